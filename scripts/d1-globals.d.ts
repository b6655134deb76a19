// The seed enrols its racks through cloud/domain (no second copy of enrolment), whose files
// name D1's types as Workers globals: give this Node project those names alone, not the whole
// Workers lib (whose fetch types clash with Node's).
type D1Database = import("@cloudflare/workers-types").D1Database;
type D1PreparedStatement = import("@cloudflare/workers-types").D1PreparedStatement;
type D1Result<T = unknown> = import("@cloudflare/workers-types").D1Result<T>;
// racks.ts names the tunnel's RPC type too (not used by the seed).
declare namespace Rpc {
  type DurableObjectBranded = { readonly __rpc?: never };
}
