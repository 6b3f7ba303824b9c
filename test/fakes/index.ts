export * from './fakeServer';
export * from './evolutionFake';
export * from './metaFake';
export * from './lancepilotFake';
export * from './uazapiFake';
