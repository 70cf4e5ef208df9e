// Reads the published view of one domain from the normalised tables of a snapshot
// (domains, contacts, name_servers, glue_addresses, ds_records): two statements that
// select published columns only and blank an opted-out contact's values inside SQLite.
// whoisd-snapshot build computes published_domains with it, and the store and
// `whoisd-snapshot check` compare published_domains against it; lookups read
// published_domains instead (one B-tree search rather than seven).
//
// It also refuses what schema.sql promises and SQLite does not enforce, so that build
// never publishes it and the probes and check never call it valid: an INTEGER column
// holding TEXT or REAL (column affinity keeps '2021-03-04 10:00:00' as TEXT, which
// sqlite3_column_int64 would read as 2021), a domain whoisd could never answer for or
// would print under another name (its a_label not a name a query finds, an 'xn--' label
// that is not the A-label of a valid U-label, a u_label that is not its Unicode form),
// an empty status (schema.sql's CHECK, which SQLite's integrity checks do not verify),
// a name server host that is not a lower-case A-label, glue that is not an address of
// its family, a DS digest that is not whole octets of hex or not as many as its digest
// type has (normalised_value_rules.h). Glue is returned in canonical text.
#pragma once

#include <optional>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "snapshot/published_domain.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

// A value of the normalised tables that whoisd will not publish; the message names the
// domain, the table and column (and the row, for a domain's name servers, glue and DS
// records), the value and what is wrong, e.g. "domain 'exemplo.pt': domains.created is
// TEXT '2021-03-04 10:00:00', expected an INTEGER (Unix seconds, UTC)".
struct NormalisedValueError : std::runtime_error {
  using runtime_error::runtime_error;
};

class NormalisedDomainReader {
 public:
  // Prepares the statements on db (which must hold the normalised tables of
  // schema.sql). Throws sqlite::SqliteError.
  explicit NormalisedDomainReader(sqlite3* db);

  // The published view of the domain whose A-label is a_label, nullopt when there is
  // none. Throws NormalisedValueError for a value it will not publish (the first one
  // met), sqlite::SqliteError when SQLite fails.
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
