// Synthetic snapshots for demos, tests and benchmarks (SPEC §5): realistic, deterministic
// data in the schema of schema.sql — Portuguese names and addresses with accents, IDNs
// (A-labels computed with ICU's UTS #46), every hierarchy and status, about 10% of
// contacts opted out, 0-4 name servers with and without glue, some DS records.
// The same options give the same content, row for row, on every machine.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace whoisd {

struct GeneratorOptions {
  std::int64_t domains = 1000;
  std::uint64_t seed = 1;
  // meta.exported_at; the dates in the data are relative to a fixed reference day
  // (2026-11-01), not to this, so that content does not depend on when it was made.
  std::int64_t exported_at = 1793491200;  // 2026-11-01T00:00:00Z
  // Called now and then with (domains written, domains wanted); may be empty.
  std::function<void(std::int64_t, std::int64_t)> progress;
};

struct GeneratorSummary {
  std::int64_t domains = 0;
  std::int64_t contacts = 0;
  std::int64_t name_servers = 0;
  std::int64_t glue_addresses = 0;
  std::int64_t ds_records = 0;
};

// The statuses and hierarchies the generator uses (every one the schema documents).
const std::vector<std::string>& generated_statuses();
const std::vector<std::string>& generated_hierarchies();

// Writes a new snapshot at out_path: into a temporary file beside it, renamed over it
// when complete. Throws SnapshotError naming the file.
GeneratorSummary generate_snapshot(const std::string& out_path, const GeneratorOptions& options);

}  // namespace whoisd
