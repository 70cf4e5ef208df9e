#include "query_mix.h"

#include <sqlite3.h>

#include <fstream>
#include <stdexcept>

#include "query/query_parser.h"

namespace whoisd::bench {

std::uint64_t mix_bits(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

MixWeights parse_mix(const std::string& text) {
  MixWeights w{};
  unsigned values[3];
  std::size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    const auto comma = text.find(',', pos);
    if ((i < 2) != (comma != std::string::npos))
      throw std::invalid_argument("--mix '" + text + "': expected three numbers FOUND,NOMATCH,INVALID");
    const std::string part = text.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (part.empty() || part.find_first_not_of("0123456789") != std::string::npos || part.size() > 6)
      throw std::invalid_argument("--mix '" + text + "': '" + part + "' is not a whole number");
    values[i] = static_cast<unsigned>(std::stoul(part));
    pos = comma + 1;
  }
  w.found = values[0];
  w.not_found = values[1];
  w.invalid = values[2];
  if (w.found + w.not_found + w.invalid == 0) throw std::invalid_argument("--mix '" + text + "': all weights are zero");
  return w;
}

namespace {

struct Db {
  sqlite3* handle = nullptr;
  ~Db() { sqlite3_close(handle); }
};

// The snapshot schema names the A-label column; older drafts used other names, so take
// the first that exists rather than fail on a rename.
std::string a_label_column(sqlite3* db, const std::string& path) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('domains')", -1, &stmt, nullptr) != SQLITE_OK)
    throw std::runtime_error(path + ": " + sqlite3_errmsg(db));
  std::vector<std::string> columns;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    columns.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)));
  sqlite3_finalize(stmt);
  if (columns.empty()) throw std::runtime_error(path + ": no table 'domains' (is it a whoisd snapshot?)");
  for (const char* candidate : {"a_label", "ace", "name_ace", "domain_ace", "name", "domain"})
    for (const auto& c : columns)
      if (c == candidate) return c;
  throw std::runtime_error(path + ": table 'domains' has no A-label column (looked for a_label, ace, name)");
}

}  // namespace

std::vector<std::string> load_names_from_snapshot(const std::string& path, std::size_t limit) {
  Db db;
  const std::string uri = "file:" + path + "?mode=ro";
  if (sqlite3_open_v2(uri.c_str(), &db.handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK)
    throw std::runtime_error(path + ": cannot open: " + (db.handle ? sqlite3_errmsg(db.handle) : "out of memory"));
  const std::string column = a_label_column(db.handle, path);
  // Random order, so that a sample of a big snapshot touches all of it, as real clients do.
  const std::string sql = "SELECT \"" + column + "\" FROM domains ORDER BY random() LIMIT ?";
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db.handle, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
    throw std::runtime_error(path + ": " + sqlite3_errmsg(db.handle));
  sqlite3_bind_int64(stmt, 1, static_cast<sqlite3_int64>(limit));
  std::vector<std::string> names;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(stmt, 0);
    if (text) names.emplace_back(reinterpret_cast<const char*>(text));
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) throw std::runtime_error(path + ": reading domains: " + sqlite3_errmsg(db.handle));
  return names;
}

std::vector<std::string> load_names_from_file(const std::string& path, std::size_t limit) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<std::string> names;
  std::string line;
  while (names.size() < limit && std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    names.push_back(line);
  }
  return names;
}

namespace {
bool parses_as(const QueryParser* parser, const std::string& line, AnswerKind kind) {
  if (!parser) return true;
  const ParsedQuery q = parser->parse(line);
  if (kind == AnswerKind::invalid) return q.kind == ParsedQuery::Kind::invalid;
  return q.kind == ParsedQuery::Kind::lookup && !q.below_registration && q.a_label == line;
}
}  // namespace

QueryMix::QueryMix(std::vector<std::string> found_names, MixWeights weights, std::uint64_t seed,
                   const QueryParser* parser)
    : weights_(weights), total_weight_(weights.found + weights.not_found + weights.invalid), seed_(seed) {
  found_.reserve(found_names.size());
  for (auto& n : found_names) {
    if (parses_as(parser, n, AnswerKind::found)) found_.push_back({std::move(n) + "\r\n", AnswerKind::found});
    else ++dropped_;
  }
  if (weights.found > 0 && found_.empty())
    throw std::invalid_argument("the mix asks for registered names but none were given (--snapshot or --names)");
  // Valid, registrable-looking names no generator produces: 'q' then 19 random letters
  // and digits, directly under .pt or under a second-level hierarchy.
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  static constexpr const char* kSuffixes[] = {".pt", ".pt", ".pt", ".com.pt", ".org.pt"};
  for (std::uint64_t i = 0; i < 4096; ++i) {
    std::uint64_t bits = mix_bits(seed ^ (i * 0x5851f42d4c957f2dULL));
    std::string label = "q";
    for (int c = 0; c < 19; ++c) {
      if (c % 12 == 0) bits = mix_bits(bits);
      label += kAlphabet[bits % 36];
      bits /= 36;
    }
    const std::string name = label + kSuffixes[i % 5];
    if (parses_as(parser, name, AnswerKind::not_found)) not_found_.push_back({name + "\r\n", AnswerKind::not_found});
    else ++dropped_;
  }
  // Lines that are never a .pt domain (SPEC §2): other TLDs, hierarchies, broken labels,
  // more than one token, a search by e-mail.
  for (const char* line : {"example.com", "com.pt", "pt", "-leading-hyphen.pt", "ab--cd.pt", "under_score.pt",
                           "two words.pt", "someone@example.pt"})
    if (parses_as(parser, line, AnswerKind::invalid)) invalid_.push_back({std::string(line) + "\r\n", AnswerKind::invalid});
    else ++dropped_;
  if ((weights.not_found > 0 && not_found_.empty()) || (weights.invalid > 0 && invalid_.empty()))
    throw std::invalid_argument("the query parser accepts none of the generated no-match or invalid lines");
}

const Query& QueryMix::pick(std::uint64_t sequence) const {
  const std::uint64_t bits = mix_bits(sequence ^ seed_);
  const unsigned roll = static_cast<unsigned>(bits % total_weight_);
  const std::uint64_t index = bits >> 24;
  if (roll < weights_.found) return found_[index % found_.size()];
  if (roll < weights_.found + weights_.not_found) return not_found_[index % not_found_.size()];
  return invalid_[index % invalid_.size()];
}

}  // namespace whoisd::bench
