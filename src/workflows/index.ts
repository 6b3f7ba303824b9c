export { contactWorkflow } from './contact';
