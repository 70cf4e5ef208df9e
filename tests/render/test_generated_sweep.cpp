// The leak sweep: renders every domain of a generated 10,000-domain snapshot and
// fails on any value the policy never publishes (telephone, fax, tax number,
// arbitration option, handle, the managing entity's and technical contact's
// address fields) and on any personal value of an opted-out contact, found in
// any answer. The values to look for are read straight from the file with
// SQLite (snapshot_domains.h), beside the store the answers come from.
//
// The snapshot: $WHOISD_SWEEP_SNAPSHOT when set, else one made here with
//   whoisd-snapshot generate --domains 10000 --seed 1 --out <temp>/generated.sqlite
//
// What counts as a leak (so that coincidences are not reported):
//  - anywhere: an answer's value (the text after "Label: ", and each word of a
//    Name Server line) equal to a withheld value of any contact of the snapshot,
//    unless that same text is also published for some domain (an admin's
//    locality "Lisboa" is also some registrant's locality);
//  - within the domain's own answer: a withheld value of the domain's own
//    contacts, 4 characters or more, found anywhere in the answer's values,
//    unless it is part of a value the answer legitimately shows.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "render/answer_renderer.h"
#include "render/answer_value.h"
#include "render_test_util.h"
#include "snapshot/snapshot_store.h"
#include "snapshot_domains.h"
#include "support/temp_dir.h"

using whoisd::AnswerRenderer;
using whoisd::answer_value;
using whoisd::answer_word;
using whoisd::test::NeverPublished;

namespace {

constexpr std::size_t kSweepDomains = 10'000;
constexpr std::size_t kMinSubstringLength = 4;

// The values of an answer: what follows "Label: " on each line, and for a Name
// Server line each of its words as well.
std::vector<std::string> answer_values(const std::string& answer) {
  std::vector<std::string> values;
  std::size_t at = 0;
  while (at < answer.size()) {
    const std::size_t end = answer.find("\r\n", at);
    const std::string line = answer.substr(at, end - at);
    at = end + 2;
    const std::size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    values.push_back(line.substr(colon + 2));
    if (line.rfind("Name Server: ", 0) == 0) {
      std::size_t w = colon + 2;
      while (w < line.size()) {
        std::size_t e = line.find(' ', w);
        if (e == std::string::npos) e = line.size();
        std::string word = line.substr(w, e - w);
        if (!word.empty() && word.back() == ',') word.pop_back();
        if (!word.empty()) values.push_back(word);
        w = e + 1;
      }
    }
  }
  return values;
}

std::string generated_snapshot(const whoisd::test::TempDir& dir) {
  if (const char* given = std::getenv("WHOISD_SWEEP_SNAPSHOT"); given != nullptr && *given != '\0') return given;
  const std::string out = dir.file("generated.sqlite");
  const std::string command = std::string(WHOISD_BINARY_DIR) + "/whoisd/whoisd-snapshot generate --domains " +
                              std::to_string(kSweepDomains) + " --seed 1 --out " + out + " > " + dir.file("generate.log") +
                              " 2>&1";
  INFO("command: " << command);
  REQUIRE(std::system(command.c_str()) == 0);
  return out;
}

}  // namespace

TEST_CASE("sweep: no answer of a generated snapshot shows a withheld or opted-out value", "[render][sweep]") {
  const whoisd::test::TempDir dir;
  const std::string path = generated_snapshot(dir);
  const std::vector<NeverPublished> domains = whoisd::test::snapshot_never_published(path);
  REQUIRE(domains.size() >= kSweepDomains);

  // Everything any domain legitimately publishes, and everything withheld, as rendered.
  std::unordered_set<std::string> published_anywhere = {std::string(whoisd::kNotDisclosed)};
  std::unordered_set<std::string> withheld_anywhere;
  std::size_t opted_out_contacts = 0;
  for (const NeverPublished& d : domains) {
    for (const std::string& v : d.published) {
      published_anywhere.insert(answer_value(v));
      published_anywhere.insert(answer_word(v));
    }
    for (const std::string& v : d.hidden) withheld_anywhere.insert(answer_value(v));
    for (const std::string& v : d.opted_out) withheld_anywhere.insert(answer_value(v));
    opted_out_contacts += d.registrant_opted_out + d.admin_opted_out + d.tech_opted_out;
  }
  for (const std::string& v : published_anywhere) withheld_anywhere.erase(v);
  // The sweep must have something to look for, or it proves nothing.
  CHECK(withheld_anywhere.size() > kSweepDomains);
  CHECK(opted_out_contacts > kSweepDomains / 50);

  whoisd::SnapshotStore store(path);
  store.open();
  const AnswerRenderer renderer;
  std::size_t swept = 0, leaks = 0, layout_faults = 0, redaction_faults = 0;
  for (const NeverPublished& d : domains) {
    const std::optional<whoisd::PublishedDomain> record = store.lookup(d.a_label);
    REQUIRE(record.has_value());
    const std::string answer = renderer.found(*record, false);
    ++swept;

    const std::string layout = whoisd::test::found_layout_violation(answer);
    if (!layout.empty()) {
      ++layout_faults;
      if (layout_faults <= 5) FAIL_CHECK(d.a_label << ": " << layout << "\n" << answer);
    }

    const std::vector<std::string> values = answer_values(answer);
    std::string all_values;
    for (const std::string& v : values) {
      all_values += v;
      all_values += '\n';
      if (withheld_anywhere.count(v) != 0) {
        ++leaks;
        if (leaks <= 10) FAIL_CHECK(d.a_label << ": withheld value '" << v << "' in the answer\n" << answer);
      }
    }

    std::vector<std::string> shown;
    for (const std::string& v : d.published) shown.push_back(answer_value(v));
    for (const auto* own : {&d.hidden, &d.opted_out}) {
      for (const std::string& raw : *own) {
        const std::string v = answer_value(raw);
        if (v.size() < kMinSubstringLength) continue;
        bool part_of_shown = std::string(whoisd::kNotDisclosed).find(v) != std::string::npos;
        for (const std::string& s : shown) part_of_shown = part_of_shown || s.find(v) != std::string::npos;
        if (part_of_shown || all_values.find(v) == std::string::npos) continue;
        ++leaks;
        if (leaks <= 10) FAIL_CHECK(d.a_label << ": own withheld value '" << v << "' in the answer\n" << answer);
      }
    }

    // Redaction is per contact; the others are shown.
    auto expect_line = [&](bool opted_out, const std::string& label, const std::string& name) {
      const std::string want = label + ": " + (opted_out ? std::string(whoisd::kNotDisclosed) : answer_value(name)) + "\r\n";
      if (answer.find("\r\n" + want) != std::string::npos) return;
      ++redaction_faults;
      if (redaction_faults <= 5) FAIL_CHECK(d.a_label << ": no line '" << want << "'\n" << answer);
    };
    expect_line(d.registrant_opted_out, "Owner Name", d.registrant_name);
    expect_line(d.admin_opted_out, "Admin Name", d.admin_name);
    expect_line(d.tech_opted_out, "Tech Name", d.tech_name);
  }
  INFO("swept " << swept << " answers");
  CHECK(swept == domains.size());
  CHECK(leaks == 0);
  CHECK(layout_faults == 0);
  CHECK(redaction_faults == 0);
}
