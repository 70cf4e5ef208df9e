// The promises schema.sql makes about published values of the normalised tables that
// its CHECK constraints cannot keep: that a domain's a_label is a name whoisd answers
// for (and its u_label that name's Unicode form), that a name server's host is a
// lower-case A-label, that glue is an IPv4 or IPv6 address, that a DS digest is whole
// octets of hex, as many as its digest type has. Each of them, broken, is published
// wrongly: a host 'ns1.a.pt' NBSP 'evil.pt' is one word to whoisd and two to parsers
// that split on any Unicode space (Net::Whois::Parser reads host 'ns1.a.pt', address
// 'evil.pt'). NormalisedDomainReader applies them to every row it reads, so
// whoisd-snapshot build, the store's probes and `whoisd-snapshot check` refuse the same
// values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace whoisd {

// "" when a query for a_label (a row of domains) is answered with that very
// registration: the query parser (SPEC §2; whoisd's UTS #46 options, as for hosts below)
// takes it for a lookup of a_label itself, so it is a valid .pt name under a hierarchy,
// no label over 63 octets, every 'xn--' label the A-label of a valid U-label, not a
// hierarchy's own name ('net.pt'); then unicode_form is set to the Unicode form the
// answer's "Domain:" line shows, which the row's u_label must equal. Otherwise what is
// wrong, e.g. "a query for it is refused (malformed IDN (punycode))".
std::string registered_domain_problem(std::string_view a_label, std::string& unicode_form);

// DNS limits (RFC 1035 §2.3.4) on a name written without its trailing dot.
inline constexpr std::size_t kMaxHostNameOctets = 253;
inline constexpr std::size_t kMaxHostLabelOctets = 63;

// "" when host is a host name as schema.sql stores it: lower-case LDH ASCII (letters
// a-z, digits, hyphen; RFC 5890's LDH label, so no hyphen first or last in a label),
// labels of 1-63 octets separated by single dots, no trailing dot, at most 253 octets,
// and a label beginning 'xn--' the A-label of a valid U-label (Uts46Mapper's
// a_label_problem: whoisd's UTS #46 options, those its queries are mapped with).
// Otherwise what is wrong, e.g. "byte 0xc2 at offset 8 is not a lower-case letter,
// digit, hyphen or dot", "its label 'xn--abc' is not a valid A-label: ...".
std::string host_name_problem(std::string_view host);

// The canonical text of a glue address: for ip_version 4 a dotted quad (inet_pton's
// form: four decimal octets, no leading zeros), for 6 an IPv6 address in the RFC 5952
// text inet_ntop writes (lower case, longest run of zero groups compressed), so that
// '2001:DB8:0:0::1' becomes '2001:db8::1'. nullopt when text is not an address of that
// family (an embedded NUL included), or ip_version is neither 4 nor 6.
std::optional<std::string> canonical_glue_address(std::int64_t ip_version, std::string_view text);

// "" when digest is a DS digest of digest_type as published: hexadecimal digits (either
// case) of even length, not empty (RFC 4034 §5.3: the digest is whole octets), and for
// a type whose RFC fixes the length, that many octets: 1 SHA-1 20 (RFC 3658, RFC 4034),
// 2 SHA-256 32 (RFC 4509), 3 GOST R 34.11-94 32 (RFC 5933), 4 SHA-384 48 (RFC 6605),
// 5 GOST R 34.11-2012 32 (RFC 9558), 6 SM3 32 (RFC 9563).
// Otherwise what is wrong, e.g. "digest type 2 (SHA-256) is 32 octets, this one 20 (40
// hexadecimal digits)".
std::string ds_digest_problem(std::uint32_t digest_type, std::string_view digest);

}  // namespace whoisd
