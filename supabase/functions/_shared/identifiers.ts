// The shapes of identifiers clients and jobs carry, in one place (pure, no I/O). They mirror the
// database's checks (SPEC 3.1, registry slugs), which stay the final word.

/** SPEC 3.1: upper case, 1 to 20 characters; allows ^GSPC, BRK-B, RELIANCE.NS. */
export const symbolPattern = /^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$/;

/** Registry slugs; whether the type exists and is enabled is checked by the database. */
export const dataTypePattern = /^[a-z][a-z0-9-]{1,62}$/;
