/** DI token of the feature price list (config/price-list.json unless PRICE_LIST_FILE says otherwise). */
export const PRICE_LIST = Symbol('PRICE_LIST');
