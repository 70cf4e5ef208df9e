// Reading a snapshot file directly with SQLite, beside the store, for the
// renderer's tests: which domains it holds, and (for the leak sweep) the values
// the policy never publishes, so that the tests know what to search answers for.
#pragma once

#include <string>
#include <vector>

namespace whoisd::test {

// Every a_label in the snapshot, in id order. Throws std::runtime_error naming the file.
std::vector<std::string> snapshot_a_labels(const std::string& snapshot_path);

// Values of one domain that must never appear in its answer, nor in any other.
struct NeverPublished {
  std::string a_label;
  // Values of columns the policy never publishes: phone, fax, tax number,
  // arbitration option, handle, and the address fields of the managing entity
  // and the technical contact. Empty values are left out.
  std::vector<std::string> hidden;
  // Personal values of each contact of the domain that opted out.
  std::vector<std::string> opted_out;
  // The values the answer may legitimately show (the published columns of
  // contacts that did not opt out, the domain's own fields): a hidden value
  // that happens to equal or be part of one of these is no leak.
  std::vector<std::string> published;
  // Which contacts opted out (registrant, managing entity, technical), and the
  // names of those that did not, to check the answer shows what it should.
  bool registrant_opted_out = false, admin_opted_out = false, tech_opted_out = false;
  std::string registrant_name, admin_name, tech_name;
};

// One entry per domain, in id order. Throws std::runtime_error naming the file.
std::vector<NeverPublished> snapshot_never_published(const std::string& snapshot_path);

}  // namespace whoisd::test
