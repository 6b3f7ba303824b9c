export default async function globalTeardown(): Promise<void> {
  await globalThis.__ZAPFLOW_DEV_SERVER__?.stop();
}
