// Prints a locally signed JWT (see jwt.ts):
//   deno run --allow-env scripts/local/mint_jwt.ts --role authenticated --sub <uuid> \
//     [--email e] [--exp 3600]

import { mintJwt } from "./jwt.ts";

const USAGE =
  "usage: mint_jwt.ts --role <authenticated|anon|service_role|...> [--sub <uuid>] [--email <e>] [--exp <seconds>]";

function parse(args: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "-h" || arg === "--help") {
      console.log(USAGE);
      Deno.exit(0);
    }
    const match = /^--(role|sub|email|exp)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unknown argument ${arg}`);
    const value = match[2] ?? args[++i];
    if (value === undefined) throw new Error(`--${match[1]} needs a value`);
    out[match[1]] = value;
  }
  return out;
}

if (import.meta.main) {
  try {
    const args = parse(Deno.args);
    if (!args.role) throw new Error("--role is required");
    const exp = args.exp === undefined ? undefined : Number(args.exp);
    if (exp !== undefined && !Number.isInteger(exp)) throw new Error("--exp must be seconds");
    console.log(
      await mintJwt({ role: args.role, sub: args.sub, email: args.email, expiresIn: exp }),
    );
  } catch (error) {
    console.error(`mint_jwt: ${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}
