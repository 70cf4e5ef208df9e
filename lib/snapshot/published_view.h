// The derived table published_domains (schema.sql): written from the normalised tables
// by whoisd-snapshot (build, generate, import), and compared with them by the store's
// probes and by `whoisd-snapshot check`. Every record is computed by
// NormalisedDomainReader, the statements that select published columns only, so the
// derived table holds what the normalised lookup would publish and nothing else.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "snapshot/normalised_domain_reader.h"
#include "snapshot/problem_list.h"

struct sqlite3;

namespace whoisd {

// The domains write_published_view refused; what() is "N domains refused:" and, one a
// line, the first kProblemsListed of them in the words of their refusal (ProblemList's
// lines), e.g. "  domain 'exemplo.pt': domains.created is TEXT 'yesterday': ...".
struct RefusedDomainsError : std::runtime_error {
  using runtime_error::runtime_error;
};

// Replaces the rows of published_domains and meta 'domain_count' with what the
// normalised tables of db give, in one transaction; returns the number of domains.
// A domain is refused for a value whoisd will not publish (NormalisedValueError: a TEXT
// date, a host that is not an A-label, a domain whoisd could never answer for or would
// print under another name, ...), or for what the record format cannot hold;
// every domain is read, so that all refusals are known, and then, if there were any,
// nothing is written and RefusedDomainsError lists them: an export is corrected in one
// pass. Throws sqlite::SqliteError when SQLite fails.
std::int64_t write_published_view(sqlite3* db);

// "" when `record` (found under a_label in published_domains) decodes to exactly what
// the normalised tables give for a_label; otherwise what is wrong, e.g. "not in
// domains", "differs in registrant", or the decoder's complaint. Throws
// sqlite::SqliteError, and NormalisedValueError when the normalised tables hold a value
// whoisd will not publish (then no record is right: the export must be corrected).
std::string published_record_mismatch(NormalisedDomainReader& normalised, std::string_view a_label,
                                      std::string_view record);

struct PublishedViewComparison {
  std::int64_t domains = 0;    // rows of domains
  std::int64_t published = 0;  // rows of published_domains
  ProblemList mismatches;      // domains missing, extra or different, count wrong: in words
  std::int64_t refused = 0;    // of the mismatches, domains whose normalised rows hold a value
                               // whoisd will not publish (rebuilding cannot help)
};

// Compares every row of published_domains with the normalised tables, and domain_count
// (meta's, as the store read it) with the number of domains; seconds at 1,000,000
// domains. A domain whose normalised rows hold a value whoisd will not publish is a
// mismatch too, in NormalisedValueError's words, and so is each domain whose id another
// domain holds too (schema.sql's UNIQUE, which build enforces and quick_check does not). The first max_listed mismatches are
// kept in words, all are counted. Throws sqlite::SqliteError.
PublishedViewComparison compare_published_view(sqlite3* db, std::int64_t domain_count,
                                               std::size_t max_listed = kProblemsListed);

}  // namespace whoisd
