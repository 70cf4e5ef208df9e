// Writes rendered answers to a directory for the compatibility tests, in which
// real third-party WHOIS parsers (Perl Net::Whois::Parser, npm whoiser) read them:
//   render_fixture OUT_DIR
// empties OUT_DIR, builds the fixture snapshot (tests/fixtures/fixture.sql) in it, and writes
//   OUT_DIR/<name>.txt     an answer, exactly as the daemon sends it (CRLF, UTF-8)
//   OUT_DIR/<name>.expect  what a parser must read from it, one "key<TAB>value" a line:
//     kind     found | nomatch | fixed
//     query    the name that was asked for
//     domain   the Domain: value          created / expires   the two dates
//     owner    the Owner Name: value      ns                  a name server host (repeated)
// for every fixture domain (found), for a host below one (found, with the
// "% Answer for" line), for names that are not registered (nomatch) and for the
// limit and connection answers (fixed). A header and a footer are configured, as
// in production, so the parsers also meet the comment lines.
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "render/answer_renderer.h"
#include "render/answer_value.h"
#include "render/utc_time_text.h"
#include "snapshot/snapshot_store.h"
#include "snapshot_domains.h"
#include "support/fixture_snapshot.h"

namespace {

using whoisd::AnswerRenderer;
using whoisd::PublishedDomain;

void write_file(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out.flush()) throw std::runtime_error(path + ": cannot write");
}

std::string time_text(std::int64_t t) {
  std::string s;
  whoisd::append_registry_time(s, t);
  return s;
}

std::string expect_found(const std::string& query, const PublishedDomain& d) {
  std::string e = "kind\tfound\nquery\t" + query + "\n";
  e += "domain\t" + whoisd::answer_value(d.u_label.empty() ? d.a_label : d.u_label) + "\n";
  e += "created\t" + time_text(d.created) + "\n";
  e += "expires\t" + time_text(d.expires) + "\n";
  e += "owner\t" + (d.registrant.disclosed ? whoisd::answer_value(d.registrant.name) : std::string(whoisd::kNotDisclosed)) + "\n";
  for (const auto& ns : d.name_servers) e += "ns\t" + whoisd::answer_word(ns.host) + "\n";
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: render_fixture OUT_DIR\n");
    return 2;
  }
  try {
    const std::string dir = argv[1];
    // A fresh directory: answers left from an older fixture must not be checked.
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::string snapshot = whoisd::test::build_fixture_snapshot(dir + "/fixture.sqlite");
    whoisd::SnapshotStore store(snapshot);
    store.open();
    const AnswerRenderer renderer(whoisd::AnswerTexts{
        {"% Terms of use: https://www.example.pt/whois-terms", "% Dates are UTC."}, {"% Questions: whois@example.pt"}});

    int written = 0;
    for (const std::string& a_label : whoisd::test::snapshot_a_labels(snapshot)) {
      const std::optional<PublishedDomain> d = store.lookup(a_label);
      if (!d) throw std::runtime_error(snapshot + ": lookup of listed domain " + a_label + " found nothing");
      // Names in the fixture are unique ASCII A-labels: safe as file names.
      write_file(dir + "/" + a_label + ".txt", renderer.found(*d, false));
      write_file(dir + "/" + a_label + ".expect", expect_found(a_label, *d));
      ++written;
      if (a_label == "exemplo.pt") {
        write_file(dir + "/www." + a_label + ".txt", renderer.found(*d, true));
        write_file(dir + "/www." + a_label + ".expect", expect_found("www." + a_label, *d));
        ++written;
      }
    }
    for (const std::string name : {"nao-existe.pt", "inexistente.com.pt", "xn--no-existe-p2a.pt"}) {
      write_file(dir + "/nomatch-" + name + ".txt", renderer.no_match(name));
      write_file(dir + "/nomatch-" + name + ".expect", "kind\tnomatch\nquery\t" + name + "\n");
      ++written;
    }
    const std::vector<std::pair<std::string, std::string>> fixed = {
        {"limit", renderer.limit_crossed("192.0.2.1", 1000, 1'767'312'000, 1)},
        {"suspended", renderer.suspended("2001:db8:1:2::/64", 1'767'312'000, 2)},
        {"connections", renderer.too_many_connections("198.51.100.9")},
        {"invalid", renderer.invalid("not a .pt domain")},
    };
    for (const auto& [name, answer] : fixed) {
      write_file(dir + "/fixed-" + name + ".txt", answer);
      write_file(dir + "/fixed-" + name + ".expect", "kind\tfixed\nquery\texemplo.pt\n");
      ++written;
    }
    std::printf("render_fixture: %d answers written to %s\n", written, dir.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "render_fixture: %s\n", e.what());
    return 1;
  }
}
