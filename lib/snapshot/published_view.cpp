#include "snapshot/published_view.h"

#include "snapshot/published_record.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

namespace {

void step_done(sqlite3* db, sqlite3_stmt* stmt) {
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
}

// The published record of a_label. Throws NormalisedValueError or PublishedRecordError,
// each naming the domain, when it is refused; sqlite::SqliteError when SQLite fails.
std::string published_record_of(NormalisedDomainReader& normalised, const std::string& a_label) {
  std::optional<PublishedDomain> d = normalised.read(a_label);
  if (!d) throw sqlite::SqliteError(SQLITE_CORRUPT, "domain '" + a_label + "' listed but not found");
  try {
    return encode_published_record(*d);
  } catch (const PublishedRecordError& e) {
    throw PublishedRecordError("domain '" + a_label + "': " + e.what());
  }
}

// schema.sql's UNIQUE (domains.id), which build's copy into schema.sql's tables enforces
// and SQLite's quick_check does not verify (a file made without the constraint keeps
// any ids): children are found by id, so every domain of a shared id is published with
// the name servers, glue and DS records of all of them, and its record matches the
// normalised tables all the same. One problem a domain, counted as refused. One pass
// over domains (the duplicated ids are found once, then each row is tested against them).
void add_shared_ids(sqlite3* db, PublishedViewComparison& out) {
  sqlite::Stmt shared = sqlite::prepare(
      db, "SELECT a_label, id, count(*) OVER (PARTITION BY id) FROM domains "
          "WHERE id IN (SELECT id FROM domains GROUP BY id HAVING count(*) > 1) ORDER BY a_label");
  int rc;
  while ((rc = sqlite3_step(shared.get())) == SQLITE_ROW) {
    out.mismatches.add("domain '" + std::string(sqlite::column_text(shared.get(), 0)) + "': domains.id is " +
                       std::string(sqlite::column_text(shared.get(), 1)) + ", the id of " +
                       std::to_string(sqlite3_column_int64(shared.get(), 2)) +
                       " domains: expected each domain's own (schema.sql: UNIQUE), else each is published with "
                       "the name servers, glue and DS records of all of them");
    ++out.refused;
  }
  if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
}

std::string refused_domains_text(const ProblemList& refused) {
  return std::to_string(refused.count()) + (refused.count() == 1 ? " domain" : " domains") + " refused:\n" +
         refused.lines("  ");
}

}  // namespace

std::int64_t write_published_view(sqlite3* db) {
  sqlite::exec(db, "BEGIN; DELETE FROM published_domains; DELETE FROM meta WHERE key = 'domain_count';");
  try {
    NormalisedDomainReader normalised(db);
    // In a_label order: the reads walk domains in key order, and every insert appends
    // to the end of published_domains' B-tree.
    sqlite::Stmt names = sqlite::prepare(db, "SELECT a_label FROM domains ORDER BY a_label");
    sqlite::Stmt insert = sqlite::prepare(db, "INSERT INTO published_domains (a_label, record) VALUES (?1, ?2)");
    std::int64_t count = 0;
    ProblemList refused;
    int rc;
    while ((rc = sqlite3_step(names.get())) == SQLITE_ROW) {
      const std::string a_label(sqlite::column_text(names.get(), 0));
      std::string record;
      try {
        record = published_record_of(normalised, a_label);
      } catch (const NormalisedValueError& e) {
        refused.add(e.what());
      } catch (const PublishedRecordError& e) {
        refused.add(e.what());
      }
      // Once a domain is refused nothing will be kept (the transaction is rolled back):
      // the others are only read, for their refusals.
      if (!refused.empty()) continue;
      sqlite3_bind_text(insert.get(), 1, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
      sqlite3_bind_blob(insert.get(), 2, record.data(), static_cast<int>(record.size()), SQLITE_STATIC);
      step_done(db, insert.get());
      ++count;
    }
    if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db));
    if (!refused.empty()) throw RefusedDomainsError(refused_domains_text(refused));
    names.reset();
    insert.reset();
    const std::string meta = "INSERT INTO meta (key, value) VALUES ('domain_count', '" + std::to_string(count) + "')";
    sqlite::exec(db, meta.c_str());
    sqlite::exec(db, "COMMIT");
    return count;
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::string published_record_mismatch(NormalisedDomainReader& normalised, std::string_view a_label,
                                      std::string_view record) {
  PublishedDomain derived;
  try {
    derived = decode_published_record(a_label, record);
  } catch (const PublishedRecordError& e) {
    return std::string("a bad record: ") + e.what();
  }
  std::optional<PublishedDomain> expected = normalised.read(a_label);
  if (!expected) return "not in domains";
  std::string field = first_difference(*expected, derived);
  if (!field.empty()) return "differs from the normalised tables in " + field;
  return "";
}

PublishedViewComparison compare_published_view(sqlite3* db, std::int64_t domain_count, std::size_t max_listed) {
  PublishedViewComparison out;
  out.mismatches = ProblemList(max_listed);
  NormalisedDomainReader normalised(db);
  // A merge of the two tables in a_label order (both keyed by a_label, BINARY collation,
  // which orders like std::string_view's compare).
  sqlite::Stmt names = sqlite::prepare(db, "SELECT a_label FROM domains ORDER BY a_label");
  sqlite::Stmt records = sqlite::prepare(db, "SELECT a_label, record FROM published_domains ORDER BY a_label");
  int names_rc = sqlite3_step(names.get());
  int records_rc = sqlite3_step(records.get());
  while (names_rc == SQLITE_ROW || records_rc == SQLITE_ROW) {
    const std::string_view name = names_rc == SQLITE_ROW ? sqlite::column_text(names.get(), 0) : std::string_view();
    const std::string_view key = records_rc == SQLITE_ROW ? sqlite::column_text(records.get(), 0) : std::string_view();
    if (records_rc != SQLITE_ROW || (names_rc == SQLITE_ROW && name < key)) {
      out.mismatches.add("'" + std::string(name) + "': in domains, missing from published_domains");
      ++out.domains;
      names_rc = sqlite3_step(names.get());
    } else if (names_rc != SQLITE_ROW || key < name) {
      out.mismatches.add("'" + std::string(key) + "': in published_domains, not in domains");
      ++out.published;
      records_rc = sqlite3_step(records.get());
    } else {
      try {
        std::string problem = published_record_mismatch(normalised, key, sqlite::column_blob(records.get(), 1));
        if (!problem.empty()) out.mismatches.add("'" + std::string(key) + "': " + problem);
      } catch (const NormalisedValueError& e) {
        out.mismatches.add(e.what());  // names the domain itself
        ++out.refused;
      }
      ++out.domains;
      ++out.published;
      names_rc = sqlite3_step(names.get());
      records_rc = sqlite3_step(records.get());
    }
  }
  if (names_rc != SQLITE_DONE || records_rc != SQLITE_DONE) {
    throw sqlite::SqliteError(names_rc != SQLITE_DONE ? names_rc : records_rc, sqlite3_errmsg(db));
  }
  add_shared_ids(db, out);
  if (domain_count != out.domains) {
    out.mismatches.add("meta 'domain_count' is " + std::to_string(domain_count) + ", domains holds " +
                       std::to_string(out.domains));
  }
  return out;
}

}  // namespace whoisd
