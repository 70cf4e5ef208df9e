// Reads the published view of one domain from the normalised tables of a snapshot
// (domains, contacts, name_servers, glue_addresses, ds_records): two statements that
// select published columns only and blank an opted-out contact's values inside SQLite.
// whoisd-snapshot build computes published_domains with it, and the store and
// `whoisd-snapshot check` compare published_domains against it; lookups read
// published_domains instead (one B-tree search rather than seven).
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "snapshot/published_domain.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

class NormalisedDomainReader {
 public:
  // Prepares the statements on db (which must hold the normalised tables of
  // schema.sql). Throws sqlite::SqliteError.
  explicit NormalisedDomainReader(sqlite3* db);

  // The published view of the domain whose A-label is a_label, nullopt when there is
  // none. Throws sqlite::SqliteError.
  std::optional<PublishedDomain> read(std::string_view a_label);

  // The statements' text, for the query-plan check (they must search, never scan);
  // their one parameter is the A-label or the domain id.
  static const std::vector<std::string_view>& statements();

 private:
  sqlite3* db_;
  sqlite::Stmt domain_;
  sqlite::Stmt children_;
};

}  // namespace whoisd
