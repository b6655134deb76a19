// A view's data from the region: fetched on mount and again whenever `deps` change, with the
// last failure kept for an ErrorBox until a fetch succeeds.
import { type DependencyList, useCallback, useEffect, useRef, useState } from "react";

export function useLoad<T>(get: () => Promise<T>, deps: DependencyList) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const seq = useRef(0);
  const reload = useCallback(
    async () => {
      const mine = ++seq.current;
      try {
        const d = await get();
        // Live updates and retries overlap: an answer overtaken by a later request is stale.
        if (mine !== seq.current) return;
        setData(d);
        setError(null);
      } catch (e) {
        if (mine === seq.current) setError(e);
      }
    },
    // biome-ignore lint/correctness/useExhaustiveDependencies: `get` is new every render; the caller's deps say when it changes.
    deps,
  );
  useEffect(() => {
    reload();
  }, [reload]);
  return { data, error, setError, reload };
}
