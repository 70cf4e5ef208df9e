// whoisd-snapshot: builds and checks snapshot files (SPEC §5; schema in lib/snapshot/schema.sql).
//   whoisd-snapshot build EXPORT.sqlite --out FILE
//   whoisd-snapshot generate --domains N --out FILE [--seed S] [--exported-at UNIX]
//   whoisd-snapshot check FILE [--quick]
//   whoisd-snapshot import EXPORT.sql --out FILE
//   whoisd-snapshot schema
// Exit status: 0 done, 1 a file is wrong or cannot be written (the message says which and
// why), 2 bad command line.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "common/version.h"
#include "snapshot/published_view.h"
#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_generator.h"
#include "snapshot/snapshot_schema.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"

namespace {

using whoisd::SnapshotError;

int generate(const std::string& out, std::int64_t domains, std::uint64_t seed, std::int64_t exported_at) {
  whoisd::GeneratorOptions options;
  options.domains = domains;
  options.seed = seed;
  options.exported_at = exported_at >= 0 ? exported_at : static_cast<std::int64_t>(std::time(nullptr));
  const auto start = std::chrono::steady_clock::now();
  // Progress only for a person watching: not into logs or pipes.
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  if (tty) {
    options.progress = [&](std::int64_t done, std::int64_t total) {
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::fprintf(stderr, "\rgenerating %s: %lld / %lld domains (%d%%), %.1f s", out.c_str(),
                   static_cast<long long>(done), static_cast<long long>(total),
                   static_cast<int>(done * 100 / total), seconds);
      std::fflush(stderr);
    };
  }
  whoisd::GeneratorSummary summary = whoisd::generate_snapshot(out, options);
  if (tty) std::fprintf(stderr, "\n");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: %lld domains, %lld contacts, %lld name servers, %lld glue addresses, %lld DS records "
              "(seed %llu, %.1f s)\n",
              out.c_str(), static_cast<long long>(summary.domains), static_cast<long long>(summary.contacts),
              static_cast<long long>(summary.name_servers), static_cast<long long>(summary.glue_addresses),
              static_cast<long long>(summary.ds_records), static_cast<unsigned long long>(seed), seconds);
  return 0;
}

void print_counts(sqlite3* db, const char* title, const char* sql) {
  std::printf("%s:\n", title);
  whoisd::sqlite::Stmt stmt = whoisd::sqlite::prepare(db, sql);
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    std::printf("  %-20s %lld\n", std::string(whoisd::sqlite::column_text(stmt.get(), 0)).c_str(),
                static_cast<long long>(sqlite3_column_int64(stmt.get(), 1)));
  }
  if (rc != SQLITE_DONE) throw whoisd::sqlite::SqliteError(rc, sqlite3_errmsg(db));
}

// Compares published_domains with the normalised tables for every domain; prints what
// differs. Returns whether everything matched.
bool compare_every_domain(const std::string& file, const whoisd::SnapshotInfo& info) {
  whoisd::PublishedViewComparison comparison;
  try {
    whoisd::sqlite::Db db = whoisd::sqlite::open(whoisd::sqlite::immutable_uri(file),
                                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    comparison = whoisd::compare_published_view(db.get(), info.domains);
  } catch (const whoisd::sqlite::SqliteError& e) {
    throw SnapshotError(file + ": " + e.what());
  }
  if (comparison.mismatches.empty()) {
    std::printf("published_domains: all %lld records match the normalised tables\n",
                static_cast<long long>(comparison.published));
    return true;
  }
  const long long mismatches = static_cast<long long>(comparison.mismatches.count());
  std::printf("published_domains: %lld %s with the normalised tables (%lld domains, %lld records):\n", mismatches,
              mismatches == 1 ? "mismatch" : "mismatches", static_cast<long long>(comparison.domains),
              static_cast<long long>(comparison.published));
  std::printf("%s\n", comparison.mismatches.lines("  ").c_str());
  // A build from this file would refuse those values too: the export must be corrected.
  if (comparison.refused > 0) {
    std::fprintf(stderr, "whoisd-snapshot: %s: %lld %s values whoisd does not publish (among the mismatches above); "
                         "correct the export and build the snapshot again\n",
                 file.c_str(), static_cast<long long>(comparison.refused),
                 comparison.refused == 1 ? "domain holds" : "domains hold");
  }
  if (comparison.mismatches.count() > comparison.refused) {
    std::fprintf(stderr, "whoisd-snapshot: %s: published_domains does not match the normalised tables; rebuild it "
                         "with `whoisd-snapshot build %s --out NEW.sqlite`\n", file.c_str(), file.c_str());
  }
  return false;
}

int check(const std::string& file, bool quick) {
  whoisd::SnapshotInfo info = whoisd::validate_snapshot(file, !quick);
  std::time_t exported = static_cast<std::time_t>(info.exported_at);
  char when[32] = "?";
  std::tm tm{};
  if (gmtime_r(&exported, &tm) != nullptr) std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  // "valid" is said last, once every check asked for has passed (the full comparison
  // of the records comes after these lines).
  std::printf("%s: schema version %d, %lld domains, %lld bytes, exported at %s, sealed\n", file.c_str(),
              info.schema_version, static_cast<long long>(info.domains), static_cast<long long>(info.file_bytes),
              when);
  try {
    whoisd::sqlite::Db db = whoisd::sqlite::open(whoisd::sqlite::immutable_uri(file),
                                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
    // Strings in the output come from the file: shown as they are, they are the
    // operator's own data. Control characters are replaced so the terminal stays sane.
    print_counts(db.get(), "domains by hierarchy",
                 "SELECT hierarchy, count(*) FROM domains GROUP BY hierarchy ORDER BY count(*) DESC, hierarchy");
    print_counts(db.get(), "domains by status",
                 "SELECT replace(replace(replace(status, char(13), '\\r'), char(10), '\\n'), char(9), '\\t'), "
                 "count(*) FROM domains GROUP BY status ORDER BY count(*) DESC, status");
    print_counts(db.get(), "other rows",
                 "SELECT 'IDNs', count(*) FROM domains WHERE a_label <> u_label "
                 "UNION ALL SELECT 'contacts', count(*) FROM contacts "
                 "UNION ALL SELECT 'contacts opted out', count(*) FROM contacts WHERE opt_out <> 0 "
                 "UNION ALL SELECT 'name servers', count(*) FROM name_servers "
                 "UNION ALL SELECT 'glue addresses', count(*) FROM glue_addresses "
                 "UNION ALL SELECT 'DS records', count(*) FROM ds_records");
  } catch (const whoisd::sqlite::SqliteError& e) {
    throw SnapshotError(file + ": " + e.what());
  }
  if (quick) {
    std::printf("%s: valid snapshot (quick check: records probed, not all compared; integrity check skipped)\n",
                file.c_str());
    return 0;
  }
  if (!compare_every_domain(file, info)) return 1;
  std::printf("%s: valid snapshot\n", file.c_str());
  return 0;
}

int build(const std::string& export_file, const std::string& out) {
  const auto start = std::chrono::steady_clock::now();
  std::int64_t domains = whoisd::build_snapshot_from_export(export_file, out);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%s: built from %s, %lld domains (%.1f s)\n", out.c_str(), export_file.c_str(),
              static_cast<long long>(domains), seconds);
  return 0;
}

int import(const std::string& sql_file, const std::string& out) {
  std::string sql = whoisd::read_text_file(sql_file);
  whoisd::build_snapshot_from_sql(out, sql, sql_file);
  whoisd::SnapshotInfo info = whoisd::validate_snapshot(out, false);
  std::printf("%s: built from %s, %lld domains\n", out.c_str(), sql_file.c_str(),
              static_cast<long long>(info.domains));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Builds and checks whoisd snapshot files (schema: lib/snapshot/schema.sql)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "whoisd-snapshot " + std::string(whoisd::version()));

  std::string out;
  std::int64_t domains = 0;
  std::uint64_t seed = 1;
  std::int64_t exported_at = -1;
  CLI::App* gen = app.add_subcommand("generate", "Write a snapshot of synthetic, realistic data (deterministic per seed)");
  gen->add_option("--domains", domains, "Number of domains")->required()->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}));
  gen->add_option("--out", out, "The snapshot file to write (replaced atomically)")->required();
  gen->add_option("--seed", seed, "Seed of the generator: the same seed gives the same content")->capture_default_str();
  gen->add_option("--exported-at", exported_at, "meta.exported_at in Unix seconds (default: now)");

  std::string file;
  bool quick = false;
  CLI::App* chk = app.add_subcommand("check", "Validate a snapshot and print what it holds");
  chk->add_option("file", file, "The snapshot file")->required();
  chk->add_flag("--quick", quick,
                "Skip the full integrity check (PRAGMA quick_check) and the comparison of every published_domains "
                "record with the normalised tables, as the daemon does");

  std::string export_file;
  CLI::App* bld = app.add_subcommand(
      "build", "Make a servable snapshot from a registry export (the normalised tables of schema.sql): copies them, "
               "derives published_domains and meta domain_count, validates, renames over --out");
  bld->add_option("export", export_file, "The export (SQLite, schema version 1 or 2); read only, never modified")->required();
  bld->add_option("--out", out, "The snapshot file to write (replaced atomically; not the export)")->required();

  std::string sql_file;
  CLI::App* imp = app.add_subcommand("import", "Build a snapshot from SQL statements run after schema.sql");
  imp->add_option("sql", sql_file, "The SQL file (INSERTs into the tables of schema.sql, meta included)")->required();
  imp->add_option("--out", out, "The snapshot file to write (replaced atomically)")->required();

  CLI::App* schema = app.add_subcommand("schema", "Print the documented schema (schema.sql)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }

  try {
    if (bld->parsed()) return build(export_file, out);
    if (gen->parsed()) return generate(out, domains, seed, exported_at);
    if (chk->parsed()) return check(file, quick);
    if (imp->parsed()) return import(sql_file, out);
    if (schema->parsed()) {
      std::cout << whoisd::snapshot_schema_sql();
      return 0;
    }
  } catch (const SnapshotError& e) {
    std::fprintf(stderr, "whoisd-snapshot: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "whoisd-snapshot: %s\n", e.what());
    return 1;
  }
  return 2;
}
