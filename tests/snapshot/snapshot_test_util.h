// Helpers for the snapshot tests: file copies, edits of a copy through SQLite, and the
// list of every string a PublishedDomain carries (for leak sweeps).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snapshot/published_domain.h"
#include "support/temp_dir.h"

namespace whoisd::test {

std::string read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::string& bytes);
void copy_file(const std::string& from, const std::string& to);
// Runs `sql` on the database at path (read-write), e.g. to break a copy of the fixture.
void run_sql(const std::string& path, const std::string& sql);
// Derives published_domains and meta 'domain_count' of the file at path again from its
// normalised tables (after run_sql edited them), as whoisd-snapshot build would.
void rebuild_published_view(const std::string& path);  // and seals it again, as build does
// Removes the seal (meta sealed_change_counter), as in a file built before it existed.
void unseal(const std::string& path);
// Seals the file as it is now, edits and all, as if whoisd-snapshot had built it so
// (a forged seal, or a builder's bug): to test the checks behind the seal, the probes
// and the full comparison.
void forge_seal(const std::string& path);
// A fresh copy of the fixture snapshot in `dir`, to be broken by a test.
std::string fixture_copy(const TempDir& dir, const std::string& name = "pt.sqlite");
// The message SnapshotStore::open() refuses `path` with ("" when it opens); checks that
// a refused store serves nothing.
std::string open_error(const std::string& path);
// Every string value of a published domain, nested ones included.
std::vector<std::string> all_strings(const PublishedDomain& d);
// The a_label of every domain in a snapshot file.
std::vector<std::string> all_a_labels(const std::string& path);
// Every row of every table, as text, in primary-key order: equal dumps, equal content.
std::string dump_content(const std::string& path);

}  // namespace whoisd::test
