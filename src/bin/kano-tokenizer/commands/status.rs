//! `status`: which adapters work and whether each serves the configured model, and the
//! effective config with where each value came from.

use std::process::ExitCode;

use serde_json::{json, Map};

use super::health::Health;
use super::{config_file, settings, yes_no, Context, Outcome, ADAPTERS};
use crate::outln;
use crate::output;
use crate::Format;

pub fn run(ctx: &Context) -> Outcome {
    let registry = ctx.registry()?;
    let mut adapters = Map::new();
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for name in ADAPTERS {
        let health = Health::check(ctx, &registry, name)?;
        let requested = health.requested.as_deref().unwrap_or("(none)");
        let (model, exact) = match (&health.serves, &health.probe) {
            (Ok(a), _) => (a.model().to_string(), yes_no(a.is_exact())),
            (Err(f), Some(Ok(probe))) => {
                notes.push(format!("{name} does not serve {requested:?}: {}", f.message));
                (format!("(works with {})", probe.model()), yes_no(probe.is_exact()))
            }
            (Err(f), _) => {
                notes.push(format!("{name} is unavailable for {requested:?}: {}", f.message));
                ("(unavailable)".to_string(), "-".into())
            }
        };
        rows.push(vec![name.to_string(), yes_no(health.available()), yes_no(health.serves.is_ok()), model, exact]);
        adapters.insert(name.to_string(), health.json());
    }
    let config = registry.config();
    let file = config_file(ctx);
    let settings = settings(ctx, config, file.as_ref().map(|(p, from)| (p.as_path(), *from)));
    let mut config_json = Map::new();
    let mut config_rows = Vec::new();
    for (key, value, source) in settings {
        config_rows.push(vec![key.clone(), value.to_string(), source.clone()]);
        config_json.insert(key, json!({"value": value, "source": source}));
    }
    let hub = registry.hub_cache().map(|p| p.display().to_string());
    // This process's own figures: the health checks' counts, on this thread. A service reads
    // its own through kano_cache_stats or the bindings.
    let cache = kano_tokenizer::cache_stats();
    let cache_json = json!({
        "lookups": cache.lookups,
        "hits": cache.hits,
        "long_lookups": cache.long_lookups,
        "long_hits": cache.long_hits,
        "hit_rate": cache.hit_rate(),
        "threads": cache.threads,
        "bytes": cache.bytes,
    });
    match ctx.format {
        Format::Json => output::json(&json!({
            "adapters": adapters,
            "config": config_json,
            "huggingface_cache": hub,
            "piece_cache": cache_json,
        })),
        Format::Text => {
            output::table(&["adapter", "available", "serves model", "model", "exact"], &rows);
            for note in &notes {
                outln!("{note}");
            }
            outln!("");
            output::table(&["config key", "value", "source"], &config_rows);
            outln!("\nHugging Face cache: {}", hub.as_deref().unwrap_or("(none)"));
            outln!(
                "Piece cache (this process): {} lookups, {} hits ({:.1}%), {} long lookups, {} long hits, {} thread(s), {} KiB",
                cache.lookups,
                cache.hits,
                100.0 * cache.hit_rate(),
                cache.long_lookups,
                cache.long_hits,
                cache.threads,
                cache.bytes / 1024
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
