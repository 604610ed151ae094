// Side effects only, imported by the server ahead of postgraphile: both must be in place before its packages load.

// Grafast reads this once, when first loaded, and plans far more slowly in development mode (which
// NODE_ENV=development alone would select). Pin production so the server is measured as it would be deployed.
process.env.GRAPHILE_ENV ??= 'production';

// PostGraphile 5 declares Node >= 22 and its executor calls Promise.withResolvers, which Node 20 lacks; there
// the call throws inside the SQL executor and every query answers a bare "Cannot read properties of undefined".
// This is the only Node 22 API its packages were found to need, so the shim lets it run next to the gateway.
type Resolvers<T> = {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
};
const promiseStatics = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> };
if (typeof promiseStatics.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>(): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve'];
      let reject!: Resolvers<T>['reject'];
      const promise = new Promise<T>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      return { promise, resolve, reject };
    },
  });
  process.stderr.write(`note: Node ${process.version} lacks Promise.withResolvers (PostGraphile 5 targets Node 22); shimmed\n`);
}
