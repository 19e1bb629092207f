export type NumericArray = Float64Array | Int32Array | Int8Array | Uint16Array;

/** A copy of `values` with room for `capacity` elements (the same typed-array kind, zero-filled beyond). */
export function grown<A extends NumericArray>(values: A, capacity: number): A {
  const next = new (values.constructor as new (length: number) => A)(capacity);
  next.set(values);
  return next;
}
