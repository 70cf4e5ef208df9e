// A published_domains record as a damaged or hostile snapshot could hold it (the
// encoding is in lib/snapshot/schema.sql): decoding either throws PublishedRecordError
// — never a crash, an out-of-bounds read or a huge allocation — or gives a domain whose
// undisclosed contacts carry no values and that encodes back to exactly the same bytes
// (the encoding is canonical, so nothing the decoder accepts is ambiguous).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "snapshot/published_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view record(reinterpret_cast<const char*>(data), size);
  whoisd::PublishedDomain d;
  try {
    d = whoisd::decode_published_record("fuzz.pt", record);
  } catch (const whoisd::PublishedRecordError&) {
    return 0;
  }
  if (d.a_label != "fuzz.pt") std::abort();
  const auto& r = d.registrant;
  if (!r.disclosed && !(r.name.empty() && r.address.empty() && r.locality.empty() && r.zip_code.empty() &&
                        r.zip_locality.empty() && r.country_code.empty() && r.email.empty())) {
    std::abort();
  }
  for (const auto* c : {&d.admin, &d.tech}) {
    if (!c->disclosed && !(c->name.empty() && c->email.empty())) std::abort();
  }
  if (whoisd::encode_published_record(d) != record) std::abort();
  return 0;
}
