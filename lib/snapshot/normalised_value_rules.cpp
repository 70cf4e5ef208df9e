#include "snapshot/normalised_value_rules.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdio>

#include "common/uts46_mapper.h"
#include "query/query_parser.h"

namespace whoisd {

namespace {

std::string byte_hex(unsigned char c) {
  char text[8];
  std::snprintf(text, sizeof text, "0x%02x", c);
  return text;
}

bool is_ldh(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

// Opened on first use and shared: ICU's mapper is immutable, safe from any thread.
const Uts46Mapper& uts46() {
  static const Uts46Mapper mapper;
  return mapper;
}

// The daemon's own parser: a domain is judged by the very code that parses the queries
// for it. Opened on first use and shared, as the mapper above; parse() is const.
const QueryParser& query_parser() {
  static const QueryParser parser;
  return parser;
}

bool is_hex_digit(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// The DS digest types whose RFC fixes the digest's length. A digest of another type
// keeps only the rule every digest has (whole octets of hex, any length), and is not
// refused: the reader takes any digest_type from 0 to 255 (schema.sql's range, the
// width of the IANA registry) because whoisd publishes the delegation the registry
// holds, it does not validate DNSSEC; a type added to the registry later (or reserved
// 0, which a validator ignores) would otherwise stop every build of an export that
// holds one, for a length this table cannot know.
struct DigestLength {
  std::uint32_t type;
  const char* name;
  std::size_t octets;
};
constexpr DigestLength kDigestLengths[] = {
    {1, "SHA-1", 20},              // RFC 3658, RFC 4034 §5.1.4
    {2, "SHA-256", 32},            // RFC 4509
    {3, "GOST R 34.11-94", 32},    // RFC 5933
    {4, "SHA-384", 48},            // RFC 6605
    {5, "GOST R 34.11-2012", 32},  // RFC 9558: its 256-bit hash (Streebog-256)
    {6, "SM3", 32},                // RFC 9563: SM3's 256-bit hash
};

}  // namespace

std::string registered_domain_problem(std::string_view a_label, std::string& unicode_form) {
  ParsedQuery query;
  query_parser().parse(a_label, query);
  if (query.kind == ParsedQuery::Kind::help) return "a query for it is the help query, not a lookup";
  if (query.kind != ParsedQuery::Kind::lookup) return "a query for it is refused (" + query.reason + ")";
  if (query.a_label != a_label) return "a query for it is taken for the registered domain '" + query.a_label + "'";
  unicode_form = std::move(query.u_label);
  return "";
}

std::string host_name_problem(std::string_view host) {
  if (host.empty()) return "it is empty";
  if (host.size() > kMaxHostNameOctets)
    return "it is " + std::to_string(host.size()) + " octets long, at most " + std::to_string(kMaxHostNameOctets);
  // Bytes first: the most telling fault (a space, NBSP, control character, upper case)
  // is named before the label structure it may also break.
  for (std::size_t i = 0; i < host.size(); ++i) {
    const auto c = static_cast<unsigned char>(host[i]);
    if (c >= 'A' && c <= 'Z')
      return "it has upper case ('" + std::string(1, static_cast<char>(c)) + "' at offset " + std::to_string(i) +
             "); host names are stored lower case";
    if (!is_ldh(c) && c != '.')
      return "byte " + byte_hex(c) + " at offset " + std::to_string(i) +
             " is not a lower-case letter, digit, hyphen or dot (host names are stored as A-labels)";
  }
  if (host.back() == '.') return "it ends in a dot; host names are stored without the trailing dot";
  std::size_t start = 0;
  while (start <= host.size()) {
    std::size_t end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(start, end - start);
    if (label.empty()) return "it has an empty label (two dots together, or a dot first)";
    if (label.size() > kMaxHostLabelOctets)
      return "its label '" + std::string(label) + "' is " + std::to_string(label.size()) + " octets long, at most " +
             std::to_string(kMaxHostLabelOctets);
    if (label.front() == '-' || label.back() == '-')
      return "its label '" + std::string(label) + "' begins or ends with a hyphen";
    // Published as it is, and shown decoded by clients that convert IDNs: an A-label
    // that does not decode, or decodes to what IDNA forbids (a disallowed character,
    // one UTS #46 maps to another, text not in NFC, a broken Bidi or joiner rule),
    // names a host that no two programs need agree on.
    if (label.starts_with("xn--"))
      if (const std::string problem = uts46().a_label_problem(label); !problem.empty())
        return "its label '" + std::string(label) + "' is not a valid A-label: " + problem;
    start = end + 1;
  }
  return "";
}

std::optional<std::string> canonical_glue_address(std::int64_t ip_version, std::string_view text) {
  // inet_pton reads a C string: a NUL inside would end the address early and hide
  // whatever follows it.
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  const std::string address(text);
  char canonical[INET6_ADDRSTRLEN];
  if (ip_version == 4) {
    in_addr binary{};
    if (::inet_pton(AF_INET, address.c_str(), &binary) != 1) return std::nullopt;
    if (::inet_ntop(AF_INET, &binary, canonical, sizeof canonical) == nullptr) return std::nullopt;
    return std::string(canonical);
  }
  if (ip_version == 6) {
    in6_addr binary{};
    if (::inet_pton(AF_INET6, address.c_str(), &binary) != 1) return std::nullopt;
    if (::inet_ntop(AF_INET6, &binary, canonical, sizeof canonical) == nullptr) return std::nullopt;
    return std::string(canonical);
  }
  return std::nullopt;
}

std::string ds_digest_problem(std::uint32_t digest_type, std::string_view digest) {
  if (digest.empty()) return "it is empty";
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const auto c = static_cast<unsigned char>(digest[i]);
    if (!is_hex_digit(c))
      return "byte " + byte_hex(c) + " at offset " + std::to_string(i) + " is not a hexadecimal digit";
  }
  if (digest.size() % 2 != 0)
    return "it has " + std::to_string(digest.size()) + " hexadecimal digits, an odd number (a digest is whole octets)";
  for (const DigestLength& known : kDigestLengths) {
    if (known.type != digest_type || digest.size() == known.octets * 2) continue;
    return "digest type " + std::to_string(known.type) + " (" + known.name + ") is " + std::to_string(known.octets) +
           " octets, this one " + std::to_string(digest.size() / 2) + " (" + std::to_string(digest.size()) +
           " hexadecimal digits)";
  }
  return "";
}

}  // namespace whoisd
