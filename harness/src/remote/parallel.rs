//! Run one step on every host at once, one thread a host.

/// Call `step(i, item)` for every item on its own thread and collect the
/// results in order. Every step runs to the end even if another fails; the
/// error returned lists every failure.
pub fn on_all<T, R, F>(items: &[T], step: F) -> anyhow::Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &T) -> anyhow::Result<R> + Sync,
{
    let results: Vec<anyhow::Result<R>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let step = &step;
                s.spawn(move || step(i, item))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a parallel step panicked")))
            })
            .collect()
    });
    let mut ok = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    if errors.is_empty() {
        Ok(ok)
    } else {
        anyhow::bail!("{}", errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::{Duration, Instant};

    #[test]
    fn steps_run_concurrently_and_keep_order() {
        // Each step waits until all three have started: that can only happen
        // when they run at the same time.
        let started = AtomicUsize::new(0);
        let out = on_all(&[3, 1, 2], |i, x| {
            started.fetch_add(1, Ordering::SeqCst);
            let deadline = Instant::now() + Duration::from_secs(10);
            while started.load(Ordering::SeqCst) < 3 {
                anyhow::ensure!(Instant::now() < deadline, "steps did not overlap");
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(i * 10 + x)
        })
        .unwrap();
        assert_eq!(out, vec![3, 11, 22]);
    }

    #[test]
    fn every_failure_is_reported() {
        let err = on_all(&["a", "b", "c"], |_, x| {
            if *x == "b" {
                Ok(())
            } else {
                anyhow::bail!("host {x} failed")
            }
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("host a failed") && err.contains("host c failed"),
            "{err}"
        );
    }
}
