// The queries a run sends: registered names (from a snapshot or a file), names that
// are certainly not registered, and lines that are not a .pt domain at all, mixed in
// configured proportions. Which query the n-th connection sends depends only on n and
// the seed, so that runs repeat and worker threads need not share anything but n.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "answer_check.h"

namespace whoisd {
class QueryParser;
}

namespace whoisd::bench {

struct Query {
  std::string line;       // what is sent, CRLF included
  AnswerKind expected;    // found, not_found or invalid
};

struct MixWeights {  // relative weights; need not add up to anything
  unsigned found = 90;
  unsigned not_found = 8;
  unsigned invalid = 2;
};

// "90,8,2" -> weights; throws std::invalid_argument naming the text.
MixWeights parse_mix(const std::string& text);

// Up to `limit` registered A-labels from a snapshot's domains table, in random order.
// Throws std::runtime_error naming the file when it cannot be read.
std::vector<std::string> load_names_from_snapshot(const std::string& path, std::size_t limit);
// One name a line; blank lines and lines starting with '#' are skipped.
std::vector<std::string> load_names_from_file(const std::string& path, std::size_t limit);

class QueryMix {
 public:
  // With a parser, only queries whose parse agrees with their kind are kept: registered
  // names that whoisd would look up as themselves (a snapshot may hold names no query
  // can reach, such as a 64-character label), not-found names that are lookups, invalid
  // lines that are invalid. dropped() counts the rest.
  QueryMix(std::vector<std::string> found_names, MixWeights weights, std::uint64_t seed,
           const QueryParser* parser = nullptr);
  std::size_t dropped() const { return dropped_; }
  const Query& pick(std::uint64_t sequence) const;
  std::size_t found_count() const { return found_.size(); }

 private:
  std::vector<Query> found_, not_found_, invalid_;
  MixWeights weights_;
  unsigned total_weight_;
  std::uint64_t seed_;
  std::size_t dropped_ = 0;
};

std::uint64_t mix_bits(std::uint64_t x);  // splitmix64 finaliser

}  // namespace whoisd::bench
