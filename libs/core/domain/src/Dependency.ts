/**
 * Key dependencies (seed 003): a command declares which key material its
 * envelope needs — `key:<keyId>` for event encryption, `peer:<userId>` for a
 * peer's public keys, `identity:<userId>` for our own identity — and a
 * resolver supplies it. Handlers never look keys up themselves.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/**
 * The three kinds of dependency.
 *
 * @since 0.1.0
 * @category models
 */
export const DependencyKind = Schema.Literal("key", "peer", "identity")
/** @since 0.1.0 */
export type DependencyKind = typeof DependencyKind.Type

/**
 * A dependency in its text form, `<kind>:<id>`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Dependency = Schema.String.pipe(
  Schema.pattern(/^(key|peer|identity):[A-Za-z0-9_-]{1,64}$/, {
    message: () => "a dependency is key:<id>, peer:<id> or identity:<id> (id: 1-64 of A-Z a-z 0-9 _ -)"
  }),
  Schema.brand("Dependency")
).annotations({ identifier: "Dependency" })
/** @since 0.1.0 */
export type Dependency = typeof Dependency.Type

/**
 * @since 0.1.0
 * @category constructors
 */
export const make = (kind: DependencyKind, id: string): Dependency => Schema.decodeSync(Dependency)(`${kind}:${id}`)

/**
 * Splits a dependency into its kind and id.
 *
 * @since 0.1.0
 * @category getters
 */
export const parse = (dependency: Dependency): { readonly kind: DependencyKind; readonly id: string } => {
  const colon = dependency.indexOf(":")
  return { kind: dependency.slice(0, colon) as DependencyKind, id: dependency.slice(colon + 1) }
}
