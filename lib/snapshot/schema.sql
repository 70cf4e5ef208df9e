-- whoisd snapshot schema, version 2
-- =================================
--
-- The registry of .pt exports one SQLite file in the normalised tables of this schema
-- (meta, contacts, domains, name_servers, glue_addresses, ds_records: the export
-- contract and the source of truth); `whoisd-snapshot build` adds the derived table
-- published_domains (the published view, one row per domain, so that a lookup is one
-- B-tree search) and writes the file whoisd serves. whoisd opens it read-only and
-- answers WHOIS queries from it (SPEC §5). This file is the whole contract: every table
-- and column is described here, and whoisd refuses a file whose PRAGMA user_version is
-- not 2 or that lacks any table or column declared below (extra tables and columns are
-- allowed and ignored), that holds no domains, whose tables lack the keys declared here
-- (lookups would then scan whole tables), or whose published_domains disagrees with the
-- normalised tables where it is probed (first, last and a dozen names spread over the
-- alphabet). `whoisd-snapshot check FILE` validates a snapshot and compares the derived
-- record of every domain with the normalised tables; `whoisd-snapshot import EXPORT.sql
-- --out FILE` builds a snapshot from SQL statements run after this schema;
-- `whoisd-snapshot schema` prints this file.
--
-- Versions
--   1  the normalised tables only; every lookup searched seven B-trees.
--   2  adds published_domains and meta 'domain_count' (whoisd-snapshot build writes
--      both). whoisd refuses a version-1 file, naming the command that converts it:
--      `whoisd-snapshot build OLD.sqlite --out NEW.sqlite`.
--
-- How to export
--   * Create a new file, run this script, insert the rows of the normalised tables and
--     meta 'schema_version', 'exported_at' and 'source' (leave published_domains empty
--     and 'domain_count' out: they are derived), and close it with the journal mode left
--     at DELETE (not WAL: whoisd opens files immutable and would not see a -wal file).
--   * Run `whoisd-snapshot build EXPORT.sqlite --out SNAPSHOT.sqlite`: it reads the
--     export (never writing to it), copies the normalised tables, derives
--     published_domains and meta 'domain_count', validates the result (PRAGMA
--     quick_check included) and renames it over SNAPSHOT.sqlite (about a minute for
--     1,000,000 domains). Then send whoisd SIGHUP. Never write into a file that is being served: replace it.
--   * Text is UTF-8, NUL-free. Values are published as they are; whoisd escapes control
--     characters when it renders an answer, but the export should not contain any.
--   * Dates are INTEGER Unix seconds, UTC (not ISO text): they compare and index cheaply,
--     and there is no time-zone ambiguity. whoisd prints them as DD/MM/YYYY HH:MM:SS UTC.
--   * An INTEGER column holds integers. SQLite does not enforce it (a column's affinity
--     keeps '2021-03-04 10:00:00' as TEXT and 12.5 as REAL, and a range CHECK lets 12.5
--     through), so whoisd-snapshot build refuses a TEXT, REAL or BLOB value in every
--     INTEGER column it reads (domains.id, created, expires; the positions; ip_version;
--     key_tag, algorithm, digest_type), naming the domain, the column and the value; so
--     does `whoisd-snapshot check` for a snapshot built before it did. These rules, and
--     those on hosts, glue and digests below, are checks of the values, not constraints
--     of this script: a correct export of version 2 stays a correct export. Build reads
--     every domain before it fails, and names the first 20 it refuses (and counts the
--     rest), so that an export is corrected in one pass.
--   * The registry's data is exported complete, including fields the WHOIS policy never
--     publishes (telephone, fax, tax number, arbitration option, the addresses of the
--     managing entity and of the technical contact). whoisd never reads those columns:
--     its statements select published columns only, and an opted-out contact's personal
--     values are blanked inside SQLite (Anexo 1.2; Art. 24 n.º 4-5). published_domains
--     is computed by those very statements, so it holds published values only.
--
-- Publication summary (SPEC §3, FORMAT.md)
--   domain          a_label, u_label, created, expires, status            published
--   registrant      name, address, locality, zip_code, zip_locality,
--                   country_code, email                                   published unless opt_out
--   managing entity name, email                                           published unless opt_out
--   technical       name, email                                           published unless opt_out
--   name servers    host, glue IPv4/IPv6                                  published
--   DS records      key_tag, algorithm, digest_type, digest               published
--   everything else (phone, fax, tax_number, arbitration_option, handle,
--   the other contacts' address fields, meta)                             never published

PRAGMA user_version = 2;  -- the schema version; whoisd serves exactly 2

-- meta: facts about the export, one row per key.
--   key    TEXT  the fact's name; these keys are required:
--                'schema_version'  '2' (must match PRAGMA user_version)
--                'exported_at'     Unix seconds (decimal text) when the registry took the export;
--                                  whoisd reports it as the snapshot's age in metrics
--                'source'          free text naming who produced the file, e.g.
--                                  'DNS.PT registry export' or 'whoisd-snapshot generate --seed 1'
--                'domain_count'    the number of rows of domains (= of published_domains), decimal
--                                  text, at least 1. Derived: written by whoisd-snapshot build,
--                                  not by the export. whoisd reports it (metrics, check) instead of
--                                  counting on every open (a count walks an index: ~80 ms at
--                                  1,000,000 domains); `whoisd-snapshot check` verifies it.
--                'sealed_change_counter'  derived, and required to serve: the SQLite file change counter
--                                  (header bytes 24-27) that whoisd-snapshot build left the
--                                  file with, written in its last transaction. Every later
--                                  write transaction (an edit with the sqlite3 shell, a
--                                  VACUUM) moves the counter, and whoisd and check then refuse
--                                  the file: an edit reaches the normalised tables but not
--                                  published_domains, which would serve stale data (an
--                                  opted-out contact's, say). To change a snapshot, edit the
--                                  export and build again. A file without the key (built
--                                  before it existed, or by other means) is refused too:
--                                  build it again (whoisd-snapshot build FILE --out NEW).
--   value  TEXT  the fact's value
CREATE TABLE meta (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);

-- contacts: every person or organisation the registry holds for a domain, in any role
-- (registrant / Titular, managing entity / Entidade Gestora, technical contact /
-- Responsável Técnico). One row may serve several domains and several roles.
CREATE TABLE contacts (
  -- The registry's internal number for the contact; referenced by domains.*_id.
  id                 INTEGER PRIMARY KEY,
  -- The registry's contact handle (e.g. 'TIT-000123'). Never published.
  handle             TEXT NOT NULL DEFAULT '',
  -- Full name of the person or organisation. Published (unless opt_out).
  name               TEXT NOT NULL,
  -- Street address, several lines joined by ', '. Published for the registrant only
  -- (unless opt_out); never for the managing entity or the technical contact.
  address            TEXT NOT NULL DEFAULT '',
  -- City or town. Registrant only, as address.
  locality           TEXT NOT NULL DEFAULT '',
  -- Postal code, e.g. '1700-068'. Registrant only, as address.
  zip_code           TEXT NOT NULL DEFAULT '',
  -- The postal locality that goes with zip_code (CTT 'localidade postal'). Registrant
  -- only, as address.
  zip_locality       TEXT NOT NULL DEFAULT '',
  -- ISO 3166-1 alpha-2 country code, upper case, e.g. 'PT'. Registrant only, as address.
  country_code       TEXT NOT NULL DEFAULT '',
  -- E-mail address. Published for every role (unless opt_out).
  email              TEXT NOT NULL DEFAULT '',
  -- Telephone number, e.g. '+351 213 456 789'. Never published.
  phone              TEXT NOT NULL DEFAULT '',
  -- Fax number. Never published.
  fax                TEXT NOT NULL DEFAULT '',
  -- Tax identification number (NIF / NIPC, or a foreign one). Never published.
  tax_number         TEXT NOT NULL DEFAULT '',
  -- The contact's choice about voluntary arbitration by ARBITRARE, as the registry
  -- records it (e.g. 'ACCEPTED', 'DECLINED', or ''). Never published.
  arbitration_option TEXT NOT NULL DEFAULT '',
  -- 1 when the contact objected to the publication of its personal data (Art. 24
  -- n.º 4-5, Anexo 1.1): name, address fields and e-mail are then shown as
  -- 'Not disclosed'. 0 otherwise. Decided per contact, not per domain.
  opt_out            INTEGER NOT NULL DEFAULT 0 CHECK (opt_out IN (0, 1))
);

-- domains: one row per registration. A registration sits directly under .pt or under
-- one of the hierarchies below (Art. 44 n.º 4-5 for the closed ones). Stored clustered
-- by a_label (WITHOUT ROWID), so that the search that finds a name also reads its row.
CREATE TABLE domains (
  -- The registry's internal number for the registration; referenced by name_servers,
  -- glue_addresses and ds_records.
  id            INTEGER NOT NULL UNIQUE,
  -- The full domain name in ASCII (A-label) form: lower case, no trailing dot,
  -- 'xn--' labels for IDNs, e.g. 'xn--aores-yra.pt', 'example.com.pt'. The lookup key.
  a_label       TEXT NOT NULL PRIMARY KEY CHECK (a_label = lower(a_label) AND a_label <> ''),
  -- The same name in Unicode (U-label) form, UTF-8, NFC, lower case, e.g. 'açores.pt'.
  -- Equal to a_label for a name that is not an IDN. Published.
  -- whoisd-snapshot build refuses a domain that whoisd could never answer for or would
  -- print under another name, and `whoisd-snapshot check` names it in a file built
  -- before: a_label must parse (as a query) to that very registration (a valid .pt name,
  -- no label over 63 octets, every 'xn--' label the A-label of a valid U-label, not a
  -- hierarchy such as 'net.pt') and u_label must be its Unicode form.
  u_label       TEXT NOT NULL CHECK (u_label <> ''),
  -- The hierarchy the registration sits under: 'pt' (directly under .pt), 'com.pt',
  -- 'org.pt', 'edu.pt', 'gov.pt', or the closed 'net.pt', 'int.pt', 'publ.pt', 'nome.pt'.
  -- a_label must be exactly one label followed by '.' and the hierarchy.
  hierarchy     TEXT NOT NULL
                CHECK (hierarchy IN ('pt', 'com.pt', 'org.pt', 'edu.pt', 'gov.pt',
                                     'net.pt', 'int.pt', 'publ.pt', 'nome.pt')),
  -- Creation (submission) date: Unix seconds, UTC. Published.
  created       INTEGER NOT NULL,
  -- Expiration date: Unix seconds, UTC. Published.
  expires       INTEGER NOT NULL,
  -- The registration's status as the registry names it, upper case, e.g. 'ACTIVE',
  -- 'REGISTERED', 'RESERVED', 'PENDING DELETE', 'PENDING TRANSFER', 'SUSPENDED'.
  -- Published as it is. Not empty (`whoisd-snapshot check` names an empty one in a file
  -- made past this CHECK: SQLite's integrity checks do not verify CHECK constraints).
  status        TEXT NOT NULL CHECK (status <> ''),
  -- The registrant (Titular): contacts.id.
  registrant_id INTEGER NOT NULL REFERENCES contacts (id),
  -- The managing entity (Entidade Gestora): contacts.id.
  admin_id      INTEGER NOT NULL REFERENCES contacts (id),
  -- The technical contact (Responsável Técnico): contacts.id.
  tech_id       INTEGER NOT NULL REFERENCES contacts (id),
  CHECK (length(a_label) > length(hierarchy) + 1
         AND substr(a_label, -length(hierarchy) - 1) = '.' || hierarchy
         AND instr(substr(a_label, 1, length(a_label) - length(hierarchy) - 1), '.') = 0)
) WITHOUT ROWID;

-- name_servers: the name servers a domain is delegated to, in the registry's order.
-- A domain may have none (e.g. RESERVED). Clustered by domain so that one lookup reads
-- one place in the file.
CREATE TABLE name_servers (
  -- domains.id of the domain delegated.
  domain_id INTEGER NOT NULL REFERENCES domains (id),
  -- 1-based order in which the registry lists the name server. Published in this order.
  position  INTEGER NOT NULL CHECK (position >= 1),
  -- Host name in A-label form, lower case, no trailing dot, e.g. 'ns1.example.pt'.
  -- Published. whoisd-snapshot build refuses any other: only a-z, 0-9, hyphen and dot;
  -- labels of 1-63 octets, no hyphen first or last in a label; at most 253 octets (a
  -- space, NBSP or upper-case letter would make parsers read the host wrongly); a
  -- label beginning 'xn--' must be Punycode that decodes to a valid IDNA U-label.
  host      TEXT NOT NULL CHECK (host <> ''),
  PRIMARY KEY (domain_id, position)
) WITHOUT ROWID;

-- glue_addresses: the IPv4 and IPv6 addresses (glue) of a domain's name server, when the
-- registry holds them (usually for a name server inside the domain). A name server may
-- have none, one, or several of each family.
CREATE TABLE glue_addresses (
  -- domains.id and name_servers.position of the name server the address belongs to.
  domain_id   INTEGER NOT NULL,
  ns_position INTEGER NOT NULL,
  -- 4 for an IPv4 address, 6 for an IPv6 address.
  ip_version  INTEGER NOT NULL CHECK (ip_version IN (4, 6)),
  -- 1-based order of the address among the name server's addresses of that family.
  position    INTEGER NOT NULL CHECK (position >= 1),
  -- The address in canonical text: dotted quad for IPv4 ('192.0.2.1'), RFC 5952 for
  -- IPv6 ('2001:db8::1'). Published. whoisd-snapshot build refuses a value that is not
  -- an address of ip_version's family, and publishes any other spelling of an IPv6
  -- address in canonical text (inet_ntop's): '2001:DB8:0::1' is published as
  -- '2001:db8::1'. (An IPv4 address has one spelling: no leading zeros.)
  address     TEXT NOT NULL CHECK (address <> ''),
  PRIMARY KEY (domain_id, ns_position, ip_version, position),
  -- (Not enforced by SQLite: whoisd-snapshot build refuses glue of a name server the
  -- domain does not list.)
  FOREIGN KEY (domain_id, ns_position) REFERENCES name_servers (domain_id, position)
) WITHOUT ROWID;

-- ds_records: the DNSSEC delegation signer records of a domain (RFC 4034 §5).
CREATE TABLE ds_records (
  -- domains.id of the signed domain.
  domain_id   INTEGER NOT NULL REFERENCES domains (id),
  -- 1-based order in which the registry lists the record.
  position    INTEGER NOT NULL CHECK (position >= 1),
  -- Key tag, 0-65535. Published.
  key_tag     INTEGER NOT NULL CHECK (key_tag BETWEEN 0 AND 65535),
  -- DNSSEC algorithm number (IANA), 0-255, e.g. 8 (RSASHA256), 13 (ECDSAP256SHA256). Published.
  algorithm   INTEGER NOT NULL CHECK (algorithm BETWEEN 0 AND 255),
  -- Digest type (IANA), 0-255, e.g. 2 (SHA-256), 4 (SHA-384). Published.
  digest_type INTEGER NOT NULL CHECK (digest_type BETWEEN 0 AND 255),
  -- The digest in hexadecimal (either case; whoisd prints it upper case), an even number
  -- of digits (whole octets; whoisd-snapshot build refuses an odd one), and for digest
  -- types 1-6 as many octets as the type has: 20 (SHA-1), 32 (SHA-256), 32 (GOST R
  -- 34.11-94), 48 (SHA-384), 32 (GOST R 34.11-2012), 32 (SM3); any length for other
  -- types. Published.
  digest      TEXT NOT NULL CHECK (digest <> '' AND digest NOT GLOB '*[^0-9A-Fa-f]*'),
  PRIMARY KEY (domain_id, position)
) WITHOUT ROWID;

-- published_domains: DERIVED, not exported. The published view of each domain (what
-- PublishedDomain in lib/snapshot/published_domain.h holds), one row per row of domains,
-- clustered by a_label so that a lookup is one B-tree search. whoisd-snapshot build
-- computes every record with the statements that read the normalised tables (published
-- columns only, opted-out contacts blanked in SQLite); the store probes a dozen records
-- against those tables on every open and `whoisd-snapshot check` compares all of them,
-- so a stale or edited table is refused.
CREATE TABLE published_domains (
  -- domains.a_label of the domain.
  a_label TEXT NOT NULL PRIMARY KEY,
  -- The published record in this binary encoding (lib/snapshot/published_record.h):
  --   uint  = unsigned LEB128 varint (7 bits a byte, low first, at most 10 bytes,
  --           no superfluous trailing zero bytes);
  --   int   = int64 zigzag-encoded, then as uint;
  --   str   = uint byte length, then that many bytes (UTF-8 text, as stored);
  --   field by field, in this order:
  --   1  byte  format version, 1
  --   2  str   u_label
  --   3  str   status
  --   4  int   created (Unix seconds)
  --   5  int   expires (Unix seconds)
  --   6  byte  disclosure flags: bit 0 registrant, bit 1 managing entity, bit 2
  --            technical contact (1 = disclosed); the other bits are 0
  --   7  registrant, only when disclosed: str name, address, locality, zip_code,
  --            zip_locality, country_code, email (an opted-out contact has no values
  --            in the record at all)
  --   8  managing entity, only when disclosed: str name, email
  --   9  technical contact, only when disclosed: str name, email
  --  10  uint  number of name servers, then for each, in the registry's order:
  --            str host; uint number of IPv4 glue addresses, each a str; uint number
  --            of IPv6 glue addresses, each a str (in the registry's order)
  --  11  uint  number of DS records, then for each, in the registry's order:
  --            uint key_tag (0-65535), uint algorithm (0-255), uint digest_type
  --            (0-255), str digest (upper-case hexadecimal, not empty)
  --   and nothing after the last field. At most 65,536 bytes (a domain's published
  --   data takes about 1 KB): build refuses a domain whose record would be longer,
  --   and whoisd answers a longer one as unreadable.
  record  BLOB NOT NULL
) WITHOUT ROWID;
