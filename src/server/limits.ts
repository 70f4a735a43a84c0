/** Largest request body accepted; bigger ones get 413 before anything parses them. */
export const maxRequestBytes = 1_000_000;
