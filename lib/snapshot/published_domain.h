// The published view of one registration: exactly what the WHOIS policy lets the
// service show (Anexo 2.4; SPEC §3), and nothing else. It is computed from the
// normalised tables (normalised_domain_reader.h) by selecting only these columns, so
// telephone, fax, tax number, the arbitration option and the addresses of the managing
// entity and technical contact are never read into the process; the renderer receives
// only this type. An opted-out contact arrives with disclosed == false and its personal
// values empty: they were never read either (SPEC §3 opt-out, Art. 24 n.º 4-5).
// whoisd-snapshot build stores it per domain in published_domains (published_record.h),
// which lookups read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace whoisd {

// The registrant (Titular): name, postal address and e-mail are published.
struct PublishedRegistrant {
  bool disclosed = true;
  std::string name;
  std::string address;        // street line(s), joined by ", " in the snapshot
  std::string locality;       // city / town
  std::string zip_code;       // e.g. 1700-068
  std::string zip_locality;   // the postal locality that goes with the zip code
  std::string country_code;   // ISO 3166-1 alpha-2
  std::string email;
  bool operator==(const PublishedRegistrant&) const = default;
};

// The managing entity (Entidade Gestora) and the technical contact (Responsável
// Técnico): name and e-mail only.
struct PublishedNamedContact {
  bool disclosed = true;
  std::string name;
  std::string email;
  bool operator==(const PublishedNamedContact&) const = default;
};

struct PublishedNameServer {
  std::string host;                 // A-label form, lower case, no trailing dot
  std::vector<std::string> ipv4;    // glue, canonical text
  std::vector<std::string> ipv6;
  bool operator==(const PublishedNameServer&) const = default;
};

struct PublishedDsRecord {
  std::uint32_t key_tag = 0;
  std::uint32_t algorithm = 0;
  std::uint32_t digest_type = 0;
  std::string digest_hex;  // upper-case hex
  bool operator==(const PublishedDsRecord&) const = default;
};

struct PublishedDomain {
  std::string u_label;      // the domain in its Unicode form (equal to a_label when not an IDN)
  std::string a_label;      // the domain in its ASCII form (xn--... for an IDN)
  std::string status;       // the snapshot's status text, e.g. "ACTIVE"
  std::int64_t created = 0; // Unix seconds, UTC (submission date)
  std::int64_t expires = 0; // Unix seconds, UTC
  PublishedRegistrant registrant;
  PublishedNamedContact admin;  // Entidade Gestora
  PublishedNamedContact tech;   // Responsável Técnico
  std::vector<PublishedNameServer> name_servers;
  std::vector<PublishedDsRecord> ds_records;

  bool is_idn() const { return u_label != a_label; }
  // Field by field (the store compares published_domains with the normalised tables).
  bool operator==(const PublishedDomain&) const = default;
};

}  // namespace whoisd
