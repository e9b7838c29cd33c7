export { Inventory } from './inventory.js';
