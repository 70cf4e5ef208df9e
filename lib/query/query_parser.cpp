// The order of the checks matters for the reason a client reads: the cheap,
// byte-level checks (length, control bytes, more than one token) come first,
// then the recognisable non-domain queries (flags, e-mail, addresses, handles,
// phone numbers), then scope, then UTS #46 and the .pt composition rules.
//
// Length of the registered label (Art. 8 n.º 1, "entre 2 e 63 caracteres") is
// counted in characters of the U-label, as the regulation counts letters a
// person types; its A-label must in addition fit the DNS limit of 63 octets
// (ICU reports UIDNA_ERROR_LABEL_TOO_LONG for that).
#include "query/query_parser.h"

#include <array>
#include <cstdint>
#include <optional>

#include <unicode/uidna.h>

#include "common/address.h"
#include "common/unicode_classes.h"
#include "common/utf8.h"

namespace whoisd {
namespace {

// Fixed reason texts. They are echoed to clients after "Invalid query: ", so
// they never contain client bytes, and never the words some client libraries
// take to mean "not registered" ("error", "not found", "restricted").
namespace reason {
constexpr const char* kEmpty = "empty query";
constexpr const char* kTooLong = "line too long";
constexpr const char* kControl = "control characters";
constexpr const char* kMoreThanOne = "more than one criterion";
constexpr const char* kFlag = "flags are not supported";
constexpr const char* kEmail = "e-mail address, not a domain";
constexpr const char* kAddress = "IP address, not a domain";
constexpr const char* kHandle = "contact handle, not a domain";
constexpr const char* kPhone = "phone number, not a domain";
constexpr const char* kNotPt = "not a .pt domain";
constexpr const char* kTopLevel = "top-level domain, not a domain";
constexpr const char* kHierarchy = "hierarchy name, not a domain";
constexpr const char* kEmptyLabel = "empty label";
constexpr const char* kLabelTooLong = "label too long";
constexpr const char* kLabelTooShort = "label too short";
constexpr const char* kNameTooLong = "name too long";
constexpr const char* kBadChar = "invalid character in label";
constexpr const char* kNotPtChar = "character not allowed in .pt names";
constexpr const char* kHyphenEnds = "hyphen at start or end of label";
constexpr const char* kHyphen34 = "hyphens in third and fourth places";
constexpr const char* kPunycode = "malformed IDN (punycode)";
constexpr const char* kBidi = "invalid right-to-left label";
constexpr const char* kJoiner = "invalid joiner character";
constexpr const char* kNotDomain = "not a domain name";
}  // namespace reason

constexpr std::size_t kMaxLabelOctets = 63;
constexpr std::size_t kMaxNameOctets = 253;

// Every field of `out` is assigned (a reused ParsedQuery keeps nothing of the query it
// held before), into strings that keep their capacity.
void set_invalid(ParsedQuery& out, const char* why) {
  out.kind = ParsedQuery::Kind::invalid;
  out.a_label.clear();
  out.u_label.clear();
  out.below_registration = false;
  out.reason.assign(why);
}

void set_help(ParsedQuery& out) {
  out.kind = ParsedQuery::Kind::help;
  out.a_label.clear();
  out.u_label.clear();
  out.below_registration = false;
  out.reason.clear();
}

// The white space trimmed from a line's ends (SPEC §2): what a person or a program
// puts around a name. The other ASCII "spaces" (CR beyond the one that ends the line,
// LF, VT, FF) are control characters, which SPEC §1 answers as invalid wherever they are.
bool is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_ldh_lower(unsigned char c) { return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-'; }
char to_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  return true;
}

// The code point at s[i] of text already known to be valid UTF-8; `i` moves past it.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  char32_t cp = 0;
  const std::size_t length = decode_utf8(s.substr(i), cp);
  i += length > 0 ? length : 1;  // (never 0 on valid text; moving on keeps a loop finite regardless)
  return cp;
}

std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// Letters of Art. 8 n.º 2 beyond a-z.
bool is_portuguese_letter(char32_t cp) {
  switch (cp) {
    case U'á': case U'à': case U'â': case U'ã': case U'ç': case U'é': case U'ê':
    case U'í': case U'ó': case U'ô': case U'õ': case U'ú':
      return true;
    default:
      return false;
  }
}

// "-T", "-B", "--help": a word that starts with a hyphen and has no dot. A name
// with dots and a leading hyphen ("-example.pt") is told what is wrong with it.
bool is_flag(std::string_view t) {
  return !t.empty() && t.front() == '-' && t.find('.') == std::string_view::npos;
}

// A line of several words (RIPE-style "-T domain example.pt", "example.pt -B") that
// holds a flag: telling its sender that flags are not supported says more than
// "more than one criterion" does.
bool has_flag_token(std::string_view line) {
  while (!line.empty()) {
    const auto end = line.find_first_of(" \t");
    if (is_flag(line.substr(0, end))) return true;
    if (end == std::string_view::npos) break;
    line.remove_prefix(end + 1);
  }
  return false;
}

bool is_ipv4_like_or_address(std::string_view t) {
  if (t.size() >= 2 && t.front() == '[' && t.back() == ']') t = t.substr(1, t.size() - 2);
  if (IpAddress::parse(t)) return true;
  // "192.0.2.1.": the root's dot, which a domain may end with too (FQDN form).
  if (t.size() > 1 && t.back() == '.' && IpAddress::parse(t.substr(0, t.size() - 1))) return true;
  if (t.find('/') != std::string_view::npos && Network::parse(t)) return true;
  return false;
}

// "ABC123-FCCN", "XYZ-12345": letters and digits in hyphen-separated parts,
// with both a letter and a digit; never contains a dot (a domain would).
bool looks_like_handle(std::string_view t) {
  bool hyphen = false, digit = false, letter = false;
  for (const char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '-') hyphen = true;
    else if (is_digit(c)) digit = true;
    else if (is_alpha(c)) letter = true;
    else return false;
  }
  return hyphen && digit && letter && t.front() != '-' && t.back() != '-';
}

// "+351.213456789", "+1-555-0100": a plus sign, then digits with . - ( ) between them.
bool looks_like_phone(std::string_view t) {
  if (t.size() < 2 || t.front() != '+') return false;
  std::size_t digits = 0;
  for (const char ch : t.substr(1)) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_digit(c)) ++digits;
    else if (c != '.' && c != '-' && c != '(' && c != ')') return false;
  }
  return digits >= 6;
}

constexpr std::array<std::string_view, 8> kHierarchies = {"com", "org", "edu", "gov",
                                                          "net", "int", "publ", "nome"};
bool is_hierarchy(std::string_view label) {
  for (const auto h : kHierarchies)
    if (label == h) return true;
  return false;
}

// The label after the last dot, and the rest before it.
std::string_view last_label(std::string_view name) {
  const auto dot = name.rfind('.');
  return dot == std::string_view::npos ? name : name.substr(dot + 1);
}

// The label that starts at `start`.
std::string_view label_at(std::string_view name, std::size_t start) {
  const auto dot = name.find('.', start);
  return name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
}

// Where the n-th label from the end starts (n = 1: the last label); 0 when the
// name has fewer labels than that.
std::size_t label_start_from_end(std::string_view name, std::size_t n) {
  std::size_t start = name.size();
  for (std::size_t k = 0; k < n; ++k) {
    if (start == 0) return 0;
    const auto dot = start >= 2 ? name.rfind('.', start - 2) : std::string_view::npos;
    start = dot == std::string_view::npos ? 0 : dot + 1;
  }
  return start;
}

// Maps UTS #46 error bits to one reason. HYPHEN_3_4 is left out on purpose:
// host labels below a registration may have "--" in places 3-4 (RFC 1123 allows
// it), and for the registered label the rule is checked on its U-label.
const char* reason_for_idna_errors(std::uint32_t errors) {
  if (errors & (UIDNA_ERROR_PUNYCODE | UIDNA_ERROR_INVALID_ACE_LABEL)) return reason::kPunycode;
  if (errors & (UIDNA_ERROR_DISALLOWED | UIDNA_ERROR_LEADING_COMBINING_MARK |
                UIDNA_ERROR_LABEL_HAS_DOT))
    return reason::kBadChar;
  if (errors & UIDNA_ERROR_EMPTY_LABEL) return reason::kEmptyLabel;
  if (errors & UIDNA_ERROR_LABEL_TOO_LONG) return reason::kLabelTooLong;
  if (errors & UIDNA_ERROR_DOMAIN_NAME_TOO_LONG) return reason::kNameTooLong;
  if (errors & (UIDNA_ERROR_LEADING_HYPHEN | UIDNA_ERROR_TRAILING_HYPHEN))
    return reason::kHyphenEnds;
  if (errors & UIDNA_ERROR_BIDI) return reason::kBidi;
  if (errors & UIDNA_ERROR_CONTEXTJ) return reason::kJoiner;
  if (errors != 0) return reason::kNotDomain;
  return nullptr;
}

constexpr std::uint32_t kIgnoredIdnaErrors = UIDNA_ERROR_HYPHEN_3_4;

// The same checks ICU makes on an all-ASCII name without A-labels, as error
// bits, so both paths give the same reason for the same name.
std::uint32_t ascii_name_errors(std::string_view name) {
  std::uint32_t errors = 0;
  std::size_t start = 0;
  while (true) {
    const auto dot = name.find('.', start);
    const auto label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos
                                                                         : dot - start);
    if (label.empty()) {
      errors |= UIDNA_ERROR_EMPTY_LABEL;
    } else {
      if (label.size() > kMaxLabelOctets) errors |= UIDNA_ERROR_LABEL_TOO_LONG;
      if (label.front() == '-') errors |= UIDNA_ERROR_LEADING_HYPHEN;
      if (label.back() == '-') errors |= UIDNA_ERROR_TRAILING_HYPHEN;
      for (const char ch : label)
        if (!is_ldh_lower(static_cast<unsigned char>(ch))) errors |= UIDNA_ERROR_DISALLOWED;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (name.size() > kMaxNameOctets) errors |= UIDNA_ERROR_DOMAIN_NAME_TOO_LONG;
  return errors;
}

bool has_ace_prefix(std::string_view name) {
  std::size_t start = 0;
  while (start < name.size()) {
    const auto label = name.substr(start, 4);
    if (label.size() == 4 && iequals(label, "xn--")) return true;
    const auto dot = name.find('.', start);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return false;
}

// Scope (.pt and its hierarchies) and the composition rules of Art. 8 and 9 for
// the registered label, on a name that passed UTS #46.
void scope_and_compose(std::string_view a_name, std::string_view u_name, ParsedQuery& out) {
  const auto tld = last_label(a_name);
  if (tld != "pt") return set_invalid(out, reason::kNotPt);
  if (tld.size() == a_name.size()) return set_invalid(out, reason::kTopLevel);

  // Labels counted from the end: pt, then maybe a hierarchy, then the registration.
  std::size_t labels_up = 2;  // the registered label is this many labels from the end
  std::size_t a_start = label_start_from_end(a_name, 2);
  if (is_hierarchy(label_at(a_name, a_start))) {
    if (a_start == 0) return set_invalid(out, reason::kHierarchy);
    labels_up = 3;
    a_start = label_start_from_end(a_name, 3);
  }
  const auto a_registered = label_at(a_name, a_start);
  // The same label in the U form, which has as many labels.
  const std::size_t u_start = label_start_from_end(u_name, labels_up);
  const auto u_registered = label_at(u_name, u_start);

  // Art. 8 n.º 1-2: a-z, 0-9, hyphen and the Portuguese letters, 2-63 characters.
  std::size_t chars = 0;
  char32_t third = 0, fourth = 0;
  for (std::size_t i = 0; i < u_registered.size();) {
    const char32_t cp = next_code_point(u_registered, i);
    if (!(cp < 0x80 ? is_ldh_lower(static_cast<unsigned char>(cp)) : is_portuguese_letter(cp)))
      return set_invalid(out, cp < 0x80 ? reason::kBadChar : reason::kNotPtChar);
    ++chars;
    if (chars == 3) third = cp;
    if (chars == 4) fourth = cp;
  }
  // An A-label that ToUnicode left as it was did not decode to anything.
  if (a_registered.size() >= 4 && a_registered.substr(0, 4) == "xn--" &&
      u_registered == a_registered)
    return set_invalid(out, reason::kPunycode);
  if (chars < 2) return set_invalid(out, reason::kLabelTooShort);
  if (chars > kMaxLabelOctets) return set_invalid(out, reason::kLabelTooLong);
  // Art. 9 n.º 1 e): "--" in the third and fourth places (of the name as
  // registered, the U-label; its A-label's "xn--" is the only exception).
  if (third == U'-' && fourth == U'-') return set_invalid(out, reason::kHyphen34);

  out.kind = ParsedQuery::Kind::lookup;
  out.a_label.assign(a_name.substr(a_start));
  out.u_label.assign(u_name.substr(u_start));
  out.below_registration = a_start > 0;
  out.reason.clear();
}

using IdnaFunction = int32_t (*)(const UIDNA*, const char*, int32_t, char*, int32_t, UIDNAInfo*,
                                 UErrorCode*);

// Runs one ICU UTF-8 conversion into `stack`, or into `heap` when it does not
// fit; nullopt if ICU fails outright.
std::optional<std::string_view> run_idna(IdnaFunction fn, const UIDNA* idna, std::string_view in,
                                         std::array<char, 1024>& stack, std::string& heap,
                                         UIDNAInfo& info) {
  UErrorCode status = U_ZERO_ERROR;
  int32_t len = fn(idna, in.data(), static_cast<int32_t>(in.size()), stack.data(),
                   static_cast<int32_t>(stack.size()), &info, &status);
  if (status == U_BUFFER_OVERFLOW_ERROR || status == U_STRING_NOT_TERMINATED_WARNING) {
    heap.resize(static_cast<std::size_t>(len) + 1);
    status = U_ZERO_ERROR;
    info = UIDNA_INFO_INITIALIZER;
    len = fn(idna, in.data(), static_cast<int32_t>(in.size()), heap.data(),
             static_cast<int32_t>(heap.size()), &info, &status);
    if (U_FAILURE(status)) return std::nullopt;
    return std::string_view(heap.data(), static_cast<std::size_t>(len));
  }
  if (U_FAILURE(status)) return std::nullopt;
  return std::string_view(stack.data(), static_cast<std::size_t>(len));
}

}  // namespace

QueryParser::QueryParser() = default;

ParsedQuery QueryParser::parse(std::string_view line) const {
  ParsedQuery q;
  parse_impl(line, true, q);
  return q;
}

void QueryParser::parse(std::string_view line, ParsedQuery& out) const { parse_impl(line, true, out); }

ParsedQuery QueryParser::parse_without_ascii_fast_path(std::string_view line) const {
  ParsedQuery q;
  parse_impl(line, false, q);
  return q;
}

void QueryParser::parse_impl(std::string_view line, bool ascii_fast_path, ParsedQuery& out) const {
  // `line` is framed already (query_line.h): its CR LF is gone, so a CR left in it is a
  // control character like any other (a doubled CR before the LF was accepted).
  if (line.size() > kMaxQueryLineBytes) return set_invalid(out, reason::kTooLong);

  while (!line.empty() && is_blank(static_cast<unsigned char>(line.front())))
    line.remove_prefix(1);
  while (!line.empty() && is_blank(static_cast<unsigned char>(line.back())))
    line.remove_suffix(1);
  if (line.empty()) return set_invalid(out, reason::kEmpty);

  bool ascii = true;
  for (const char ch : line) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7F) return set_invalid(out, reason::kControl);
    if (c >= 0x80) ascii = false;
  }

  // Non-ASCII: UTF-8 if it is valid UTF-8, else ISO-8859-1 from older clients.
  std::string converted;
  std::string_view token = line;
  if (!ascii) {
    if (!is_valid_utf8(token)) {
      converted = latin1_to_utf8(token);
      token = converted;
    }
    // White space beyond ASCII (U+00A0 pasted from a web page, U+3000 from an input
    // method) is trimmed at the ends together with blanks; inside, it separates two
    // words, as a blank does.
    const auto is_space = [](char32_t cp) { return cp == ' ' || cp == '\t' || is_unicode_space(cp); };
    // One pass: the bounds of what is not space, whether a space beyond ASCII lies
    // between two words, and whether what is kept is ASCII after all.
    std::size_t begin = token.size();
    std::size_t end = 0;
    bool unicode_space_after_a_word = false;
    bool inner_unicode_space = false;
    bool kept_non_ascii = false;
    for (std::size_t i = 0; i < token.size();) {
      const std::size_t at = i;
      const char32_t cp = next_code_point(token, i);
      if (is_c1_control(cp)) return set_invalid(out, reason::kControl);
      if (is_space(cp)) {
        unicode_space_after_a_word = unicode_space_after_a_word || (begin != token.size() && is_unicode_space(cp));
        continue;
      }
      if (begin == token.size()) begin = at;
      inner_unicode_space = inner_unicode_space || unicode_space_after_a_word;
      kept_non_ascii = kept_non_ascii || cp >= 0x80;
      end = i;
    }
    if (begin == token.size()) return set_invalid(out, reason::kEmpty);
    token = token.substr(begin, end - begin);
    ascii = !kept_non_ascii;
    if (inner_unicode_space) {
      // Two words or more; split by spaces beyond ASCII as by blanks, to name a flag among them.
      std::string words;
      for (std::size_t i = 0; i < token.size();) {
        const std::size_t at = i;
        const char32_t cp = next_code_point(token, i);
        if (is_unicode_space(cp)) words += ' ';
        else words.append(token.substr(at, i - at));
      }
      return set_invalid(out, has_flag_token(words) ? reason::kFlag : reason::kMoreThanOne);
    }
  }
  // (Words split by blanks are looked at for a flag: "-T domain x.pt".)
  if (token.find_first_of(" \t") != std::string_view::npos)
    return set_invalid(out, has_flag_token(token) ? reason::kFlag : reason::kMoreThanOne);

  if (iequals(token, "help")) return set_help(out);
  if (is_flag(token)) return set_invalid(out, reason::kFlag);
  if (token.find('@') != std::string_view::npos) return set_invalid(out, reason::kEmail);
  if (looks_like_phone(token)) return set_invalid(out, reason::kPhone);
  if (ascii && is_ipv4_like_or_address(token)) return set_invalid(out, reason::kAddress);
  if (looks_like_handle(token)) return set_invalid(out, reason::kHandle);

  std::string_view name = token;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.empty()) return set_invalid(out, reason::kNotPt);
  if (name.back() == '.') return set_invalid(out, reason::kEmptyLabel);

  // Scope first where it can be seen without UTS #46: "example.com" is out of
  // scope whatever else may be wrong with it.
  const auto tld = last_label(name);
  bool tld_ascii = true;
  for (const char ch : tld) tld_ascii = tld_ascii && static_cast<unsigned char>(ch) < 0x80;
  if (tld_ascii && !iequals(tld, "pt")) return set_invalid(out, reason::kNotPt);

  if (ascii && ascii_fast_path && !has_ace_prefix(name)) {
    // Plain LDH names need no UTS #46 mapping beyond lower case, and their
    // U-label is the A-label: skip ICU, which costs most of the time here.
    // On the stack: an ASCII name is part of the line (or of its Latin-1 conversion,
    // which maps ASCII bytes one to one), at most kMaxQueryLineBytes long (checked
    // above; the test below only keeps that obvious here).
    std::array<char, kMaxQueryLineBytes> lower_buf;
    if (name.size() > lower_buf.size()) return set_invalid(out, reason::kTooLong);
    for (std::size_t i = 0; i < name.size(); ++i) lower_buf[i] = to_lower(name[i]);
    const std::string_view lower(lower_buf.data(), name.size());
    if (const char* why = reason_for_idna_errors(ascii_name_errors(lower) & ~kIgnoredIdnaErrors))
      return set_invalid(out, why);
    return scope_and_compose(lower, lower, out);
  }

  // Valid results fit the stack buffer; an invalid name may map to far more
  // (U+FFFD for every disallowed character), and is then run again on the heap
  // so that its reason is the same as for a shorter name.
  std::array<char, 1024> a_buf;
  std::string a_heap;
  UIDNAInfo info = UIDNA_INFO_INITIALIZER;
  const auto a_name = run_idna(uidna_nameToASCII_UTF8, idna_.get(), name, a_buf, a_heap, info);
  if (!a_name) return set_invalid(out, reason::kNotDomain);
  if (const char* why = reason_for_idna_errors(info.errors & ~kIgnoredIdnaErrors))
    return set_invalid(out, why);
  std::string_view a_text = *a_name;
  // A mapped dot (U+3002 and the like) may have ended the name in a root label.
  if (!a_text.empty() && a_text.back() == '.') {
    if (token.size() != name.size()) return set_invalid(out, reason::kEmptyLabel);
    a_text.remove_suffix(1);
  }
  if (a_text.empty()) return set_invalid(out, reason::kNotPt);

  std::array<char, 1024> u_buf;
  std::string u_heap;
  info = UIDNA_INFO_INITIALIZER;
  const auto u_name = run_idna(uidna_nameToUnicodeUTF8, idna_.get(), a_text, u_buf, u_heap, info);
  if (!u_name) return set_invalid(out, reason::kNotDomain);
  if (const char* why = reason_for_idna_errors(info.errors & ~kIgnoredIdnaErrors))
    return set_invalid(out, why);
  return scope_and_compose(a_text, *u_name, out);
}

}  // namespace whoisd
