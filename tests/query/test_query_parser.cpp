// The query parser against a table of lines a client may send (SPEC §2).
// Every case also goes through parse_without_ascii_fast_path(): the ASCII fast
// path and ICU must agree on everything, reasons included.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "query/query_parser.h"

namespace {

using whoisd::ParsedQuery;
using whoisd::QueryParser;
using Kind = ParsedQuery::Kind;

struct Case {
  std::string input;
  Kind kind;
  std::string a_label;  // lookup
  std::string u_label;  // lookup
  bool below = false;   // lookup
  std::string reason;   // invalid
};

Case lookup(std::string in, std::string a, std::string u = {}) {
  if (u.empty()) u = a;
  return {std::move(in), Kind::lookup, std::move(a), std::move(u), false, {}};
}
Case below(std::string in, std::string a, std::string u = {}) {
  if (u.empty()) u = a;
  return {std::move(in), Kind::lookup, std::move(a), std::move(u), true, {}};
}
Case bad(std::string in, std::string why) { return {std::move(in), Kind::invalid, {}, {}, false, std::move(why)}; }
Case help(std::string in) { return {std::move(in), Kind::help, {}, {}, false, {}}; }

std::string rep(char c, std::size_t n) { return std::string(n, c); }
std::string bytes(const char* s, std::size_t n) { return std::string(s, n); }

// Reasons the parser may give; anything else would be a defect.
const std::set<std::string> kReasons = {
    "empty query", "line too long", "control characters", "more than one criterion",
    "flags are not supported", "e-mail address, not a domain", "IP address, not a domain",
    "contact handle, not a domain", "phone number, not a domain", "not a .pt domain",
    "top-level domain, not a domain", "hierarchy name, not a domain", "empty label",
    "label too long", "label too short", "name too long", "invalid character in label",
    "character not allowed in .pt names", "hyphen at start or end of label",
    "hyphens in third and fourth places", "malformed IDN (punycode)",
    "invalid right-to-left label", "invalid joiner character", "not a domain name"};

std::vector<Case> cases() {
  const std::string l63 = rep('a', 63), l64 = rep('a', 64);
  // 253 octets: 3 labels of 63 + "b" * 53 + ".pt" ... built exactly below.
  const std::string host3 = l63 + "." + l63 + "." + l63 + ".";  // 192 octets
  const std::string name253 = host3 + rep('b', 58) + ".pt";      // 192 + 58 + 3 = 253
  const std::string name254 = host3 + rep('b', 59) + ".pt";
  const std::string spaces_to_1024 = rep(' ', 1024 - 10);
  return {
      // --- plain ASCII, directly under .pt
      lookup("example.pt", "example.pt"),
      lookup("EXAMPLE.PT", "example.pt"),
      lookup("Example.Pt", "example.pt"),
      lookup("example.pt.", "example.pt"),
      lookup("EXAMPLE.PT.", "example.pt"),
      lookup("  example.pt  ", "example.pt"),
      bad("example.pt\r", "control characters"),  // the framing takes the one CR before LF
      lookup("\t example.pt \t", "example.pt"),
      lookup("example.pt.", "example.pt"),
      lookup("ab.pt", "ab.pt"),  // 2 characters: no 3-character minimum (Art. 44 n.º 3)
      lookup("abc.pt", "abc.pt"),
      lookup("12.pt", "12.pt"),
      lookup("123.pt", "123.pt"),
      lookup("a1.pt", "a1.pt"),
      lookup("cm-lisboa.pt", "cm-lisboa.pt"),
      lookup("a-b.pt", "a-b.pt"),
      lookup("a-b-c-d.pt", "a-b-c-d.pt"),
      lookup("abc--d.pt", "abc--d.pt"),  // "--" elsewhere than places 3-4 is fine
      lookup("pt.pt", "pt.pt"),
      lookup(l63 + ".pt", l63 + ".pt"),
      lookup(spaces_to_1024.substr(0, 1024 - 10) + "example.pt", "example.pt"),  // exactly 1024
      // --- every hierarchy
      lookup("guarda-redes.com.pt", "guarda-redes.com.pt"),
      lookup("example.com.pt", "example.com.pt"),
      lookup("EXAMPLE.COM.PT", "example.com.pt"),
      lookup("example.org.pt", "example.org.pt"),
      lookup("example.edu.pt", "example.edu.pt"),
      lookup("example.gov.pt", "example.gov.pt"),
      lookup("example.net.pt", "example.net.pt"),
      lookup("example.int.pt", "example.int.pt"),
      lookup("example.publ.pt", "example.publ.pt"),
      lookup("example.nome.pt", "example.nome.pt"),
      lookup("xy.com.pt", "xy.com.pt"),
      lookup("com.com.pt", "com.com.pt"),
      lookup("Example.Gov.Pt.", "example.gov.pt"),
      lookup(l63 + ".org.pt", l63 + ".org.pt"),
      // --- hosts below a registration
      below("www.example.pt", "example.pt"),
      below("WWW.Example.PT.", "example.pt"),
      below("a.example.pt", "example.pt"),
      below("x.y.z.example.pt", "example.pt"),
      below("a.b.example.com.pt", "example.com.pt"),
      below("mail.example.gov.pt", "example.gov.pt"),
      below("www.example.nome.pt", "example.nome.pt"),
      below("www.example.publ.pt", "example.publ.pt"),
      below("www.example.edu.pt", "example.edu.pt"),
      below("www.example.org.pt", "example.org.pt"),
      below("www.example.net.pt", "example.net.pt"),
      below("www.example.int.pt", "example.int.pt"),
      below("com.example.pt", "example.pt"),  // a hierarchy name as a host label
      below("r3--sn-abc.example.pt", "example.pt"),  // host labels may have "--" in 3-4
      below("1.example.pt", "example.pt"),
      below(l63 + ".example.pt", "example.pt"),
      below(name253, rep('b', 58) + ".pt"),
      below("www.com.com.pt", "com.com.pt"),
      lookup("www.com.pt", "www.com.pt"),  // "www" registered under com.pt
      below("xn--aores-yra.example.pt", "example.pt"),
      below("192.0.2.1.example.pt", "example.pt"),
      // --- IDN: Unicode, upper case, punycode, Latin-1 are one query
      lookup("açores.pt", "xn--aores-yra.pt", "açores.pt"),
      lookup("AÇORES.PT", "xn--aores-yra.pt", "açores.pt"),
      lookup("Açores.Pt.", "xn--aores-yra.pt", "açores.pt"),
      lookup("xn--aores-yra.pt", "xn--aores-yra.pt", "açores.pt"),
      lookup("XN--AORES-YRA.PT", "xn--aores-yra.pt", "açores.pt"),
      lookup("Xn--Aores-Yra.pt.", "xn--aores-yra.pt", "açores.pt"),
      lookup("a\xE7ores.pt", "xn--aores-yra.pt", "açores.pt"),         // ISO-8859-1
      lookup("A\xC7ORES.PT", "xn--aores-yra.pt", "açores.pt"),         // ISO-8859-1
      lookup(" a\xE7ores.pt. ", "xn--aores-yra.pt", "açores.pt"),    // ISO-8859-1
      lookup("açores.pt", "xn--aores-yra.pt", "açores.pt"),
      lookup("ac\xCC\xA7ores.pt", "xn--aores-yra.pt", "açores.pt"),    // c + combining cedilla
      lookup("aço\xC2\xADres.pt", "xn--aores-yra.pt", "açores.pt"),    // soft hyphen is ignored
      lookup("açores\xE3\x80\x82pt", "xn--aores-yra.pt", "açores.pt"), // ideographic full stop
      lookup("açores.pt\xE3\x80\x82", "xn--aores-yra.pt", "açores.pt"),
      lookup("\xEF\xBD\x85\xEF\xBD\x98\xEF\xBD\x81\xEF\xBD\x8D\xEF\xBD\x90\xEF\xBD\x8C\xEF\xBD\x85"
             "\xEF\xBC\x8E\xEF\xBD\x90\xEF\xBD\x94",
             "example.pt"),  // full-width "example.pt"
      lookup("ação.pt", "xn--ao-siap.pt", "ação.pt"),
      lookup("AÇÃO.PT", "xn--ao-siap.pt", "ação.pt"),
      lookup("a\xE7\xE3o.pt", "xn--ao-siap.pt", "ação.pt"),  // ISO-8859-1
      lookup("xn--ao-siap.pt", "xn--ao-siap.pt", "ação.pt"),
      lookup("pão.com.pt", "xn--po-sia.com.pt", "pão.com.pt"),
      lookup("PÃO.COM.PT", "xn--po-sia.com.pt", "pão.com.pt"),
      lookup("são-joão.org.pt", "xn--so-joo-3tae.org.pt", "são-joão.org.pt"),
      lookup("xn--so-joo-3tae.org.pt", "xn--so-joo-3tae.org.pt", "são-joão.org.pt"),
      lookup("café.edu.pt", "xn--caf-dma.edu.pt", "café.edu.pt"),
      lookup("caf\xE9.edu.pt", "xn--caf-dma.edu.pt", "café.edu.pt"),  // ISO-8859-1
      lookup("ação.gov.pt", "xn--ao-siap.gov.pt", "ação.gov.pt"),
      lookup("café.net.pt", "xn--caf-dma.net.pt", "café.net.pt"),
      lookup("café.int.pt", "xn--caf-dma.int.pt", "café.int.pt"),
      lookup("café.publ.pt", "xn--caf-dma.publ.pt", "café.publ.pt"),
      lookup("café.nome.pt", "xn--caf-dma.nome.pt", "café.nome.pt"),
      lookup("áàâãçéêíóôõú.pt", "xn--0cabeeumhy8ckl4d.pt", "áàâãçéêíóôõú.pt"),
      lookup("ÁÀÂÃÇÉÊÍÓÔÕÚ.PT", "xn--0cabeeumhy8ckl4d.pt", "áàâãçéêíóôõú.pt"),
      lookup("\xE1\xE0\xE2\xE3\xE7\xE9\xEA\xED\xF3\xF4\xF5\xFA.pt", "xn--0cabeeumhy8ckl4d.pt",
             "áàâãçéêíóôõú.pt"),  // ISO-8859-1
      lookup("çç.pt", "xn--7caa.pt", "çç.pt"),
      lookup(rep('a', 55) + "ç.pt", "xn--" + rep('a', 55) + "-n0e.pt", rep('a', 55) + "ç.pt"),
      below("www.açores.pt", "xn--aores-yra.pt", "açores.pt"),
      below("café.açores.com.pt", "xn--aores-yra.com.pt", "açores.com.pt"),
      below("ü.example.pt", "example.pt"),  // any IDN host label below a registration
      below("\xD7\x90\xD7\x91.example.pt", "example.pt"),  // a right-to-left host label
      below("xn--caf-dma.xn--aores-yra.pt", "xn--aores-yra.pt", "açores.pt"),
      // --- help
      help("help"),
      help("HELP"),
      help("Help"),
      help("  help "),
      bad("help\r", "control characters"),
      bad("help me", "more than one criterion"),
      bad("help.", "not a .pt domain"),
      // --- empty
      bad("", "empty query"),
      bad("   ", "empty query"),
      bad("\r", "control characters"),
      bad(" \t \r", "control characters"),
      bad(".", "not a .pt domain"),
      // --- line length
      bad(rep('a', 1025), "line too long"),
      bad(rep(' ', 1015) + "example.pt", "line too long"),
      bad(rep('a', 4096) + ".pt", "line too long"),
      // --- control characters
      bad(bytes("exa\0mple.pt", 11), "control characters"),
      bad(bytes("example.pt\0", 11), "control characters"),
      bad(bytes("\0", 1), "control characters"),
      bad("exa\x01mple.pt", "control characters"),
      bad("example\x7F.pt", "control characters"),
      bad("exa\rmple.pt", "control characters"),
      bad("exa\nmple.pt", "control characters"),
      bad("\x1B[31mexample.pt", "control characters"),
      bad("example.pt\x08\x08\x08", "control characters"),
      // at the ends too: only blanks (space, tab) and the one CR before the LF are trimmed
      bad("example.pt\x0B", "control characters"),
      bad("\x0C" "example.pt", "control characters"),
      bad("example.pt\r\r", "control characters"),
      bad("example.pt\n", "control characters"),
      bad(" \t\x0B", "control characters"),
      bad("\x85" "example.pt", "control characters"),          // ISO-8859-1 C1 (NEL)
      bad("\xC2\x85" "example.pt", "control characters"),      // UTF-8 C1 (NEL)
      bad("exa\x9Bmple.pt", "control characters"),              // ISO-8859-1 C1 (CSI)
      // --- more than one criterion
      bad("example.pt example2.pt", "more than one criterion"),
      bad("domain example.pt", "more than one criterion"),
      bad("example.pt\tfoo", "more than one criterion"),
      bad("-example.pt foo.pt", "more than one criterion"),  // a name, not a flag
      // --- several words, one of them a flag (RIPE-style queries)
      bad("-T domain x.pt", "flags are not supported"),
      bad("-B x.pt", "flags are not supported"),
      bad("x.pt\t--help", "flags are not supported"),
      bad("example.pt -h", "flags are not supported"),
      bad("a\xC2\xA0" "b.pt", "more than one criterion"),  // UTF-8 no-break space
      bad("a\xA0" "b.pt", "more than one criterion"),      // ISO-8859-1 no-break space
      bad("a\xC2\xA0\xE3\x80\x80" "b.pt", "more than one criterion"),
      // White space beyond ASCII at the ends is trimmed, as blanks are (pasted from a web page).
      lookup("example.pt\xC2\xA0", "example.pt"),                        // UTF-8 no-break space
      lookup("example.pt\xA0", "example.pt"),                             // ISO-8859-1 no-break space
      lookup("\xE3\x80\x80" "example.pt" "\xE3\x80\x80", "example.pt"),     // U+3000 IDEOGRAPHIC SPACE
      lookup(" \xC2\xA0" "açores.pt\xE2\x80\xAF ", "xn--aores-yra.pt", "açores.pt"),
      bad("\xC2\xA0\xE3\x80\x80", "empty query"),
      lookup("example.pt \xC2\xA0", "example.pt"),  // blanks and spaces beyond ASCII mixed at the ends
      lookup("\xC2\xA0 example.pt\t\xE3\x80\x80 ", "example.pt"),
      bad("192.0.2.1\xC2\xA0", "IP address, not a domain"),  // judged as the ASCII it is once trimmed
      bad("a \xC2\xA0" "b.pt", "more than one criterion"),
      bad("-T \xC2\xA0x.pt", "flags are not supported"),
      bad("-T\xC2\xA0x.pt", "flags are not supported"),       // a flag split off by a space beyond ASCII
      bad("x.pt\xE3\x80\x80-B", "flags are not supported"),
      bad("x.pt\xC2\xA0y.pt", "more than one criterion"),
      bad("a\xE3\x80\x80" "b.pt", "more than one criterion"),  // ideographic space
      bad("John Smith", "more than one criterion"),
      // --- flags
      bad("-h", "flags are not supported"),
      bad("--help", "flags are not supported"),
      bad("-V", "flags are not supported"),
      bad("-T", "flags are not supported"),
      bad("-", "flags are not supported"),
      // --- e-mail addresses
      bad("user@example.pt", "e-mail address, not a domain"),
      bad("hostmaster@dns.pt", "e-mail address, not a domain"),
      bad("@example.pt", "e-mail address, not a domain"),
      bad("JOÃO@EXAMPLE.PT", "e-mail address, not a domain"),
      // --- IP addresses
      bad("192.0.2.1", "IP address, not a domain"),
      bad("10.0.0.1", "IP address, not a domain"),
      bad("2001:db8::1", "IP address, not a domain"),
      bad("2001:DB8::1", "IP address, not a domain"),
      bad("::1", "IP address, not a domain"),
      bad("[2001:db8::1]", "IP address, not a domain"),
      bad("::ffff:192.0.2.1", "IP address, not a domain"),
      bad("192.0.2.0/24", "IP address, not a domain"),
      bad("2001:db8::/32", "IP address, not a domain"),
      bad("192.0.2.1.", "IP address, not a domain"),  // the root's dot, as a domain may have
      bad("::ffff:192.0.2.1.", "IP address, not a domain"),
      bad("192.0.2.1..", "empty label"),
      bad("256.1.1.1", "not a .pt domain"),
      bad("1.2.3", "not a .pt domain"),
      // --- contact handles
      bad("ABC123-FCCN", "contact handle, not a domain"),
      bad("abc123-fccn", "contact handle, not a domain"),
      bad("XY1234-DNS", "contact handle, not a domain"),
      bad("J1-PT", "contact handle, not a domain"),
      // --- phone numbers
      bad("+351.213456789", "phone number, not a domain"),
      bad("+351213456789", "phone number, not a domain"),
      bad("+1-555-0100", "phone number, not a domain"),
      // --- other top-level domains, single labels
      bad("example.com", "not a .pt domain"),
      bad("EXAMPLE.COM", "not a .pt domain"),
      bad("example.org.", "not a .pt domain"),
      bad("example.pt.com", "not a .pt domain"),
      bad("example.p", "not a .pt domain"),
      bad("example.ptt", "not a .pt domain"),
      bad("example.xn--p1ai", "not a .pt domain"),
      bad("\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80.\xD1\x80\xD1\x84", "not a .pt domain"),
      bad("example", "not a .pt domain"),
      bad("localhost", "not a .pt domain"),
      bad("AS1234", "not a .pt domain"),
      bad("exa_mple.com", "not a .pt domain"),  // out of scope whatever else is wrong
      bad("fe80::1%eth0", "not a .pt domain"),
      bad("açores", "not a .pt domain"),
      // --- pt itself and the hierarchy names
      bad("pt", "top-level domain, not a domain"),
      bad("PT", "top-level domain, not a domain"),
      bad("pt.", "top-level domain, not a domain"),
      bad("com.pt", "hierarchy name, not a domain"),
      bad("ORG.PT", "hierarchy name, not a domain"),
      bad("edu.pt", "hierarchy name, not a domain"),
      bad("gov.pt", "hierarchy name, not a domain"),
      bad("net.pt", "hierarchy name, not a domain"),
      bad("int.pt", "hierarchy name, not a domain"),
      bad("publ.pt", "hierarchy name, not a domain"),
      bad("nome.pt.", "hierarchy name, not a domain"),
      // --- empty labels
      bad(".pt", "empty label"),
      bad("a..pt", "empty label"),
      bad(".example.pt", "empty label"),
      bad("example..pt", "empty label"),
      bad("example.pt..", "empty label"),
      bad("www..example.pt", "empty label"),
      bad("açores..pt", "empty label"),
      // --- lengths
      bad(l64 + ".pt", "label too long"),
      bad(l64 + ".com.pt", "label too long"),
      bad(l64 + ".example.pt", "label too long"),
      bad(rep('a', 56) + "ç.pt", "label too long"),  // 57 characters, but its A-label has 64 octets
      bad("xn--" + rep('a', 56) + "-m3e.pt", "label too long"),  // that A-label itself
      bad("xn--" + rep('a', 60) + ".pt", "malformed IDN (punycode)"),
      bad("a.pt", "label too short"),
      bad("A.PT", "label too short"),
      bad("1.pt", "label too short"),
      bad("a.com.pt", "label too short"),
      bad("x.gov.pt", "label too short"),
      bad("ç.pt", "label too short"),
      bad("www.a.pt", "label too short"),
      bad(name254, "name too long"),
      bad(host3 + host3 + "example.pt", "name too long"),
      // --- characters
      bad("exa_mple.pt", "invalid character in label"),
      bad("example!.pt", "invalid character in label"),
      bad("*.pt", "invalid character in label"),
      bad("*.example.pt", "invalid character in label"),
      bad("ex%ample.pt", "invalid character in label"),
      bad("exam/ple.pt", "invalid character in label"),
      bad("exam\\ple.pt", "invalid character in label"),
      bad("<example>.pt", "invalid character in label"),
      bad("_dmarc.example.pt", "invalid character in label"),
      bad("\xCC\xA7" "ab.pt", "invalid character in label"),  // leading combining mark
      bad("straße.pt", "character not allowed in .pt names"),
      bad("müller.pt", "character not allowed in .pt names"),
      bad("m\xFCller.pt", "character not allowed in .pt names"),  // ISO-8859-1
      bad("ñandú.pt", "character not allowed in .pt names"),
      bad("über.com.pt", "character not allowed in .pt names"),
      bad("\xE6\x97\xA5\xE6\x9C\xAC.pt", "character not allowed in .pt names"),
      bad("\xD9\x85\xD8\xAB\xD8\xA7\xD9\x84.pt", "character not allowed in .pt names"),
      bad("\xFF\xFF.pt", "character not allowed in .pt names"),  // ISO-8859-1 ÿÿ
      bad("xn--ls8h.pt", "character not allowed in .pt names"),    // an emoji A-label
      bad("xn--ber-goa.pt", "character not allowed in .pt names"), // über
      // --- hyphens
      bad("-example.pt", "hyphen at start or end of label"),
      bad("example-.pt", "hyphen at start or end of label"),
      bad("example-.com.pt", "hyphen at start or end of label"),
      bad("www-.example.pt", "hyphen at start or end of label"),
      bad("-www.example.pt", "hyphen at start or end of label"),
      bad("ação-.pt", "hyphen at start or end of label"),
      bad("ab--cd.pt", "hyphens in third and fourth places"),
      bad("AB--CD.COM.PT", "hyphens in third and fourth places"),
      bad("ab--.pt", "hyphen at start or end of label"),
      bad("ab--ç.pt", "hyphens in third and fourth places"),
      bad("www.ab--cd.pt", "hyphens in third and fourth places"),
      // --- punycode
      bad("xn--.pt", "malformed IDN (punycode)"),
      bad("XN--.PT", "malformed IDN (punycode)"),
      bad("xn--a.pt", "malformed IDN (punycode)"),
      bad("xn--abc.pt", "malformed IDN (punycode)"),
      bad("xn--aores-yrb.pt", "malformed IDN (punycode)"),
      bad("xn--example-.pt", "malformed IDN (punycode)"),
      bad("xn--zz.com.pt", "malformed IDN (punycode)"),
      bad("xn--99999999999.com.pt", "malformed IDN (punycode)"),
      bad("www.xn--zz.example.pt", "malformed IDN (punycode)"),
      bad("xn--AORES-YRA-.pt", "malformed IDN (punycode)"),
      // --- UTS #46 contextual and bidi rules
      bad("a\xD7\x90.pt", "invalid right-to-left label"),
      bad("a\xD7\x90.example.pt", "invalid right-to-left label"),
      bad("a\xE2\x80\x8D" "b.pt", "invalid joiner character"),  // ZWJ
      bad("a\xE2\x80\x8C" "b.example.pt", "invalid joiner character"),  // ZWNJ
  };
}

const char* kind_name(Kind k) {
  return k == Kind::lookup ? "lookup" : k == Kind::help ? "help" : "invalid";
}

void check(const Case& c, const ParsedQuery& q) {
  CHECK(kind_name(q.kind) == std::string(kind_name(c.kind)));
  if (c.kind == Kind::lookup) {
    CHECK(q.a_label == c.a_label);
    CHECK(q.u_label == c.u_label);
    CHECK(q.below_registration == c.below);
    CHECK(q.reason.empty());
  } else if (c.kind == Kind::invalid) {
    CHECK(q.reason == c.reason);
    CHECK(q.a_label.empty());
    CHECK(q.u_label.empty());
  }
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

TEST_CASE("query table: at least 150 lines, every reason covered", "[query]") {
  const auto table = cases();
  CHECK(table.size() >= 150);
  std::set<std::string> seen;
  for (const auto& c : table)
    if (c.kind == Kind::invalid) seen.insert(c.reason);
  for (const auto& r : kReasons) {
    if (r == "not a domain name") continue;  // only for ICU failing outright
    INFO("reason " << r);
    CHECK(seen.count(r) == 1);
  }
}

TEST_CASE("query table: parse() and the ICU-only path give the expected answer", "[query]") {
  const QueryParser parser;
  for (const auto& c : cases()) {
    INFO("input: " << c.input);
    check(c, parser.parse(c.input));
    check(c, parser.parse_without_ascii_fast_path(c.input));
  }
}

TEST_CASE("query table: parsing into a reused ParsedQuery leaves nothing of the query before", "[query]") {
  // The server parses every line into one ParsedQuery per thread: a help or invalid
  // query after a lookup (and the reverse) must not keep its labels, flag or reason.
  const QueryParser parser;
  std::vector<Case> table = cases();
  ParsedQuery reused;
  for (int pass = 0; pass < 2; ++pass) {
    for (const auto& c : table) {
      INFO("input: " << c.input << " pass " << pass);
      parser.parse(c.input, reused);
      check(c, reused);
      const ParsedQuery fresh = parser.parse(c.input);
      CHECK(kind_name(reused.kind) == std::string(kind_name(fresh.kind)));
      CHECK(reused.a_label == fresh.a_label);
      CHECK(reused.u_label == fresh.u_label);
      CHECK(reused.below_registration == fresh.below_registration);
      CHECK(reused.reason == fresh.reason);
    }
    std::reverse(table.begin(), table.end());
  }
}

TEST_CASE("query: every invalid reason is a known fixed text without the words clients read as "
          "not registered", "[query]") {
  const QueryParser parser;
  for (const auto& c : cases()) {
    const auto q = parser.parse(c.input);
    if (q.kind != Kind::invalid) continue;
    INFO("input: " << c.input << " reason: " << q.reason);
    CHECK(kReasons.count(q.reason) == 1);
    const auto r = lower(q.reason);
    CHECK(r.find("error") == std::string::npos);
    CHECK(r.find("not found") == std::string::npos);
    CHECK(r.find("restricted") == std::string::npos);
    CHECK(std::none_of(r.begin(), r.end(), [](char ch) {
      const auto u = static_cast<unsigned char>(ch);
      return u < 0x20 || u >= 0x7F;
    }));
  }
  for (const auto& r : kReasons) {
    const auto l = lower(r);
    CHECK(l.find("error") == std::string::npos);
    CHECK(l.find("not found") == std::string::npos);
    CHECK(l.find("restricted") == std::string::npos);
  }
}

TEST_CASE("query: the forms of one name are one query", "[query]") {
  const QueryParser parser;
  const auto reference = parser.parse("açores.pt");
  REQUIRE(reference.kind == Kind::lookup);
  for (const std::string form : {"AÇORES.PT", "xn--aores-yra.pt", "XN--AORES-YRA.PT.",
                                 "a\xE7ores.pt", "A\xC7ORES.PT", "  açores.pt.  "}) {
    INFO("form: " << form);
    const auto q = parser.parse(form);
    CHECK(q.kind == Kind::lookup);
    CHECK(q.a_label == reference.a_label);
    CHECK(q.u_label == reference.u_label);
  }
}

TEST_CASE("query: every line length up to the limit is accepted, one more byte is not",
          "[query]") {
  const QueryParser parser;
  for (std::size_t total : {std::size_t{10}, std::size_t{100}, whoisd::kMaxQueryLineBytes}) {
    const std::string line = std::string(total - 10, ' ') + "example.pt";
    CHECK(parser.parse(line).kind == Kind::lookup);
    CHECK(parser.parse(line + " ").reason == (total == whoisd::kMaxQueryLineBytes
                                                  ? "line too long"
                                                  : ""));
  }
}

TEST_CASE("query: one parser is used from several threads at once", "[query]") {
  const QueryParser parser;
  const auto table = cases();
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round)
        for (const auto& c : table) {
          const auto q = parser.parse(c.input);
          if (q.kind != c.kind || q.a_label != c.a_label || q.reason != c.reason) ++mismatches[t];
        }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) CHECK(m == 0);
}
