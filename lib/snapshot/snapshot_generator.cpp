#include "snapshot/snapshot_generator.h"

#include <unicode/uidna.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <unordered_set>

#include "common/uts46_mapper.h"
#include "snapshot/snapshot_builder.h"
#include "snapshot/snapshot_schema.h"
#include "snapshot/snapshot_store.h"
#include "snapshot/sqlite_handle.h"

namespace whoisd {

namespace {

using Words = std::vector<std::string_view>;

// --- Deterministic randomness -------------------------------------------------------
// SplitMix64 and our own range reduction: std:: distributions differ between standard
// libraries, and the same seed must give the same file everywhere.
class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed ^ 0x9e3779b97f4a7c15ull) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n).
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  // Uniform in [lo, hi].
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo + 1)));
  }
  // True with probability percent / 100.
  bool percent(double p) { return static_cast<double>(below(1000000)) < p * 10000.0; }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  template <typename T>
  const T& pick(const std::vector<T>& list) { return list[below(list.size())]; }

 private:
  std::uint64_t state_;
};

// Picks from weighted choices.
template <typename T>
struct Weighted {
  std::vector<std::pair<T, int>> choices;
  const T& pick(Random& random) const {
    int total = 0;
    for (const auto& c : choices) total += c.second;
    auto roll = static_cast<int>(random.below(static_cast<std::uint64_t>(total)));
    for (const auto& c : choices) {
      if (roll < c.second) return c.first;
      roll -= c.second;
    }
    return choices.back().first;
  }
};

// --- Vocabulary ---------------------------------------------------------------------
const Words kLabelWords = {
    "açores", "évora", "lisboa", "porto", "braga", "coimbra", "faro", "viseu", "aveiro", "guimarães",
    "setúbal", "leiria", "santarém", "bragança", "óbidos", "sintra", "cascais", "madeira", "algarve", "douro",
    "minho", "tejo", "alentejo", "ribatejo", "beira", "são-joão", "são-pedro", "santo-antónio", "café",
    "padaria", "pão", "maçã", "coração", "ótica", "farmácia", "clínica", "oficina", "restaurante", "pastelaria",
    "tasca", "vinhos", "azeite", "cortiça", "sardinha", "bacalhau", "pastel", "nata", "fado", "azulejo",
    "calçada", "caravela", "navegador", "atlântico", "mar", "sol", "lua", "estrela", "serra", "rio", "ponte",
    "praça", "rua", "largo", "quinta", "herdade", "monte", "vale", "casa", "loja", "mercado", "feira", "escola",
    "colégio", "academia", "associação", "clube", "futebol", "desporto", "saúde", "dentista", "veterinário",
    "advogados", "contabilidade", "seguros", "imobiliária", "construções", "transportes", "táxi", "turismo",
    "viagens", "hotel", "alojamento", "pousada", "informática", "software", "digital", "rede", "web", "net",
    "design", "fotografia", "música", "teatro", "cinema", "livraria", "papelaria", "jornal", "rádio", "notícias",
    "educação", "ciência", "inovação", "energia", "solar", "água", "ambiente", "jardim", "flores", "limão",
    "laranja", "cereja", "amêndoa", "mel", "queijo", "chouriço", "leitão", "marisco", "peixe", "barco",
    "pesca", "surf", "praia", "ilha", "terra", "ouro", "prata", "cobre", "ferro", "pedra", "mármore",
    "granito", "moda", "têxtil", "calçado", "sapato", "bordado", "renda", "cerâmica", "olaria", "artesanato",
    "lusitânia", "ibérica", "pôr-do-sol", "avô", "avós", "portugal", "nação", "união", "família", "amigos", "geração", "tradição", "herança",
};
const Words kLabelSuffixes = {"online", "pt", "lda", "sa", "grupo", "portugal", "lusa", "store", "shop", "center",
                               "24", "365", "2000", "plus", "mais", "top", "norte", "sul", "centro", "ilhas"};
const Words kFirstNames = {"João", "Maria", "António", "José", "Ana", "Francisco", "Manuel", "Inês", "Beatriz",
                           "Gonçalo", "Tomás", "Conceição", "Luís", "Sofia", "Rui", "Pedro", "Catarina",
                           "Margarida", "Duarte", "Leonor", "Mariana", "Afonso", "Rodrigo", "Matilde", "Joaquim",
                           "Fátima", "Helena", "Sérgio", "Vítor", "Lúcia", "Rosário", "Graça", "Álvaro", "Tiago",
                           "Carolina", "Diogo", "Filipa", "Hugo", "Íris", "Simão"};
const Words kSurnames = {"Silva", "Santos", "Ferreira", "Pereira", "Oliveira", "Costa", "Rodrigues", "Martins",
                         "Jesus", "Sousa", "Fernandes", "Gonçalves", "Gomes", "Lopes", "Marques", "Alves",
                         "Almeida", "Ribeiro", "Pinto", "Carvalho", "Teixeira", "Moreira", "Correia", "Mendes",
                         "Nunes", "Soares", "Vieira", "Monteiro", "Cardoso", "Rocha", "Raposo", "Neves", "Coelho",
                         "Cruz", "Cunha", "Pires", "Ramos", "Reis", "Simões", "Antunes", "Matos", "Fonseca",
                         "Machado", "Araújo", "Brandão", "Magalhães", "Conceição", "Lourenço", "Valente", "Galvão"};
const Words kCompanyWords = {"Lusitana", "Atlântica", "Ibérica", "Tejo", "Douro", "Minho", "Algarvia", "Açoriana",
                             "Madeirense", "Transmontana", "Alentejana", "Beirã", "Portuense", "Lisboeta",
                             "Nova Era", "Horizonte", "Caravela", "Estrela", "Oceano", "Girassol"};
const Words kCompanyKinds = {"Construções", "Transportes", "Informática", "Comércio de Vinhos", "Padaria",
                             "Restauração", "Turismo", "Imobiliária", "Consultoria", "Farmácia", "Ótica",
                             "Seguros", "Têxteis", "Calçado", "Cerâmica", "Energia Solar", "Mediação",
                             "Contabilidade", "Clínica Médica", "Educação"};
const Words kLegalForms = {"Lda.", "S.A.", "Unipessoal Lda.", "Lda.", "Lda."};
const Words kOrganisations = {"Associação Cultural", "Associação Desportiva", "Clube Recreativo",
                              "Fundação", "Cooperativa Agrícola", "Santa Casa da Misericórdia",
                              "Junta de Freguesia", "Câmara Municipal", "Escola Secundária", "Agrupamento de Escolas",
                              "Instituto Politécnico", "Universidade"};
const Words kStreetKinds = {"Rua", "Avenida", "Travessa", "Largo", "Praça", "Estrada", "Calçada", "Beco", "Alameda"};
const Words kStreetNames = {"da Liberdade", "de São Bento", "Dr. António José de Almeida", "dos Combatentes",
                            "Cândido dos Reis", "da Sé", "do Comércio", "25 de Abril", "de Camões",
                            "Vasco da Gama", "D. João IV", "das Flores", "do Açúcar", "da Conceição",
                            "Almirante Reis", "da República", "Infante D. Henrique", "de Santa Catarina",
                            "Alexandre Herculano", "Fernão de Magalhães", "da Boavista", "do Município",
                            "Padre Cruz", "Gago Coutinho", "de Olivença", "Marquês de Pombal"};
struct Place {
  std::string_view locality;
  int zip_from, zip_to;  // first four digits of the postal code
};
const std::vector<Place> kPlaces = {
    {"Lisboa", 1000, 1900}, {"Porto", 4000, 4300}, {"Braga", 4700, 4719}, {"Coimbra", 3000, 3049},
    {"Faro", 8000, 8009}, {"Évora", 7000, 7009}, {"Viseu", 3500, 3519}, {"Aveiro", 3800, 3819},
    {"Funchal", 9000, 9064}, {"Ponta Delgada", 9500, 9509}, {"Guimarães", 4800, 4839}, {"Setúbal", 2900, 2914},
    {"Leiria", 2400, 2419}, {"Santarém", 2000, 2009}, {"Bragança", 5300, 5309}, {"Viana do Castelo", 4900, 4909},
    {"Angra do Heroísmo", 9700, 9709}, {"Óbidos", 2510, 2510}, {"Castelo Branco", 6000, 6009},
    {"Portalegre", 7300, 7309}, {"Beja", 7800, 7809}, {"Guarda", 6300, 6309}, {"Vila Real", 5000, 5009},
    {"Amadora", 2700, 2724}, {"Sintra", 2710, 2714}, {"Cascais", 2750, 2754}, {"Matosinhos", 4450, 4459},
    {"Almada", 2800, 2809}, {"Vila Nova de Gaia", 4400, 4439}, {"Loulé", 8100, 8109}};
struct ForeignPlace {
  std::string_view country, locality, zip;
};
const std::vector<ForeignPlace> kForeignPlaces = {
    {"ES", "Madrid", "28001"}, {"ES", "Vigo", "36201"}, {"FR", "Paris", "75008"}, {"DE", "München", "80331"},
    {"BR", "São Paulo", "01310-100"}, {"AO", "Luanda", ""}, {"GB", "London", "EC1A 1BB"},
    {"US", "Newark", "07102"}, {"CH", "Genève", "1201"}, {"LU", "Luxembourg", "L-1115"}};
const Words kMailDomains = {"sapo.pt", "gmail.com", "outlook.pt", "netcabo.pt", "mail.telepac.pt", "iol.pt",
                            "hotmail.com", "clix.pt"};
const Words kRegistrarWords = {"Alojamento", "Domínios", "Rede", "Net", "Web", "Digital", "Tejo", "Douro",
                               "Atlântico", "Lusitânia", "Minho", "Algarve", "Serra", "Ibéria", "Ponto",
                               "Nuvem", "Servidor", "Código"};
const Words kRegistrarKinds = {"Registos", "Serviços Internet", "Soluções Web", "Comunicações", "Informática",
                               "Hosting", "Tecnologias"};
const Words kProviders = {"alojamento-lusitano.pt", "nuvem-tejo.pt", "dns-atlantico.net", "servidores-douro.pt",
                          "rede-minho.com.pt", "hosting-algarve.pt", "ponto-dns.pt", "dns.example-hosting.eu",
                          "ns-ibéria.example.com", "webnet-porto.pt", "domínios-açores.pt", "cloud-serra.pt",
                          "dns-lusa.net", "alojar.example.net", "netcasa.pt", "servir-web.com.pt"};

const std::vector<std::string> kStatuses = {"ACTIVE", "REGISTERED", "RESERVED", "PENDING DELETE",
                                            "PENDING TRANSFER", "SUSPENDED"};
const std::vector<std::string> kHierarchies = {"pt", "com.pt", "org.pt", "edu.pt", "gov.pt",
                                               "net.pt", "int.pt", "publ.pt", "nome.pt"};

// A label that, directly under .pt, names one of the hierarchies ("com" of com.pt).
bool is_hierarchy_label(const std::string& label) {
  for (const std::string& h : kHierarchies)
    if (h.size() == label.size() + 3 && h.compare(0, label.size(), label) == 0) return true;
  return false;
}

const Weighted<std::string> kStatusWeights{{{"ACTIVE", 860}, {"REGISTERED", 40}, {"RESERVED", 40},
                                            {"PENDING DELETE", 25}, {"PENDING TRANSFER", 20}, {"SUSPENDED", 15}}};
const Weighted<std::string> kHierarchyWeights{{{"pt", 700}, {"com.pt", 150}, {"org.pt", 50}, {"edu.pt", 20},
                                               {"gov.pt", 20}, {"net.pt", 20}, {"int.pt", 10}, {"publ.pt", 15},
                                               {"nome.pt", 15}}};

constexpr std::int64_t kReferenceDay = 1793491200;  // 2026-11-01T00:00:00Z
constexpr std::int64_t kFirstDay = 662688000;       // 1991-01-01T00:00:00Z
constexpr std::int64_t kYear = 31556952;            // 365.2425 days

// Replaces the Portuguese accented letters by their base letters ("coração" -> "coracao").
std::string fold_accents(std::string_view text) {
  static const std::array<std::pair<std::string_view, char>, 24> folds = {{
      {"á", 'a'}, {"à", 'a'}, {"â", 'a'}, {"ã", 'a'}, {"ç", 'c'}, {"é", 'e'}, {"ê", 'e'}, {"í", 'i'},
      {"ó", 'o'}, {"ô", 'o'}, {"õ", 'o'}, {"ú", 'u'}, {"Á", 'A'}, {"À", 'A'}, {"Â", 'A'}, {"Ã", 'A'},
      {"Ç", 'C'}, {"É", 'E'}, {"Ê", 'E'}, {"Í", 'I'}, {"Ó", 'O'}, {"Ô", 'O'}, {"Õ", 'O'}, {"Ú", 'U'},
  }};
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    bool folded = false;
    if (static_cast<unsigned char>(text[i]) >= 0x80) {
      for (const auto& [from, to] : folds) {
        if (text.substr(i, from.size()) == from) {
          out += to;
          i += from.size();
          folded = true;
          break;
        }
      }
    }
    if (!folded) out += text[i++];
  }
  return out;
}

std::string lower_ascii(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return text;
}

// A word fit for the local part of an e-mail address: folded, lower case, letters only.
std::string mail_word(std::string_view text) {
  std::string out;
  for (char c : lower_ascii(fold_accents(text))) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) out += c;
  }
  return out;
}

std::string digits(Random& random, int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += static_cast<char>('0' + random.below(10));
  return out;
}

// A Portuguese tax number (NIF) with a valid check digit; `first` is its first digit
// (1-3 people, 5 companies, 6 public bodies).
std::string nif(Random& random, char first) {
  std::string n(1, first);
  n += digits(random, 7);
  int sum = 0;
  for (int i = 0; i < 8; ++i) sum += (n[static_cast<std::size_t>(i)] - '0') * (9 - i);
  int check = 11 - sum % 11;
  n += static_cast<char>('0' + (check >= 10 ? 0 : check));
  return n;
}

std::string portuguese_phone(Random& random, bool mobile) {
  if (mobile) return "+351 9" + std::string(1, "1236"[random.below(4)]) + digits(random, 1) + " " + digits(random, 3) + " " + digits(random, 3);
  return "+351 2" + digits(random, 2) + " " + digits(random, 3) + " " + digits(random, 3);
}

// The A-label of one U-label, or "" when it is not a valid IDNA label.
std::string to_a_label(const Uts46Mapper& idna, std::string_view label) {
  char buffer[256];
  UErrorCode error = U_ZERO_ERROR;
  UIDNAInfo info = UIDNA_INFO_INITIALIZER;
  int32_t length = uidna_labelToASCII_UTF8(idna.get(), label.data(), static_cast<int32_t>(label.size()), buffer,
                                           sizeof buffer, &info, &error);
  if (U_FAILURE(error) || info.errors != 0 || length <= 0 || length > 63) return {};
  return std::string(buffer, static_cast<std::size_t>(length));
}

struct ContactRow {
  std::string handle, name, address, locality, zip_code, zip_locality, country_code, email, phone, fax,
      tax_number, arbitration_option;
  bool opt_out = false;
};

class Generator {
 public:
  Generator(sqlite3* db, const GeneratorOptions& options) : db_(db), options_(options), random_(options.seed) {
    insert_contact_ = sqlite::prepare(db, "INSERT INTO contacts VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)", true);
    insert_domain_ = sqlite::prepare(db, "INSERT INTO domains VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)", true);
    insert_ns_ = sqlite::prepare(db, "INSERT INTO name_servers VALUES (?1, ?2, ?3)", true);
    insert_glue_ = sqlite::prepare(db, "INSERT INTO glue_addresses VALUES (?1, ?2, ?3, ?4, ?5)", true);
    insert_ds_ = sqlite::prepare(db, "INSERT INTO ds_records VALUES (?1, ?2, ?3, ?4, ?5, ?6)", true);
  }

  GeneratorSummary run() {
    const std::int64_t total = options_.domains;
    const std::int64_t registrars = std::clamp<std::int64_t>(total / 2000, 5, 400);
    const std::int64_t techs = std::clamp<std::int64_t>(total / 8, 10, 200000);
    for (std::int64_t i = 0; i < registrars; ++i) registrar_ids_.push_back(write_contact(make_registrar()));
    for (std::int64_t i = 0; i < techs; ++i) tech_ids_.push_back(write_contact(make_person(8.0, false)));
    seen_.reserve(static_cast<std::size_t>(total) * 2);
    for (std::int64_t id = 1; id <= total; ++id) {
      write_domain(id);
      if (options_.progress && (id % 10000 == 0 || id == total)) options_.progress(id, total);
    }
    summary_.domains = total;
    return summary_;
  }

 private:
  std::int64_t write_contact(const ContactRow& c) {
    const std::int64_t id = ++summary_.contacts;
    sqlite3_stmt* s = insert_contact_.get();
    sqlite3_bind_int64(s, 1, id);
    const std::string* texts[] = {&c.handle, &c.name, &c.address, &c.locality, &c.zip_code, &c.zip_locality,
                                  &c.country_code, &c.email, &c.phone, &c.fax, &c.tax_number,
                                  &c.arbitration_option};
    int column = 2;
    for (const std::string* text : texts) {
      sqlite3_bind_text(s, column++, text->data(), static_cast<int>(text->size()), SQLITE_STATIC);
    }
    sqlite3_bind_int(s, 14, c.opt_out ? 1 : 0);
    step(s);
    return id;
  }

  void step(sqlite3_stmt* s) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) throw sqlite::SqliteError(rc, sqlite3_errmsg(db_));
  }

  void fill_address(ContactRow& c, bool foreign_possible) {
    if (foreign_possible && random_.percent(5)) {
      const ForeignPlace& place = random_.pick(kForeignPlaces);
      c.address = "Street " + std::to_string(random_.between(1, 300));
      c.locality = std::string(place.locality);
      c.zip_code = std::string(place.zip);
      c.zip_locality = std::string(place.locality);
      c.country_code = std::string(place.country);
      return;
    }
    const Place& place = random_.pick(kPlaces);
    c.address = std::string(random_.pick(kStreetKinds)) + " " + std::string(random_.pick(kStreetNames)) + " " +
                std::to_string(random_.between(1, 250));
    if (random_.percent(40)) {
      c.address += ", " + std::to_string(random_.between(1, 9)) + ".º " + (random_.percent(50) ? "Esq." : "Dto.");
    }
    c.locality = std::string(place.locality);
    c.zip_code = std::to_string(random_.between(place.zip_from, place.zip_to)) + "-" + digits(random_, 3);
    c.zip_locality = c.locality;
    c.country_code = "PT";
  }

  std::string handle(char kind) { return std::string(1, kind) + "-" + std::to_string(1000000 + summary_.contacts + 1); }

  std::string arbitration() {
    switch (random_.below(3)) {
      case 0: return "ACCEPTED";
      case 1: return "DECLINED";
      default: return "";
    }
  }

  ContactRow make_person(double opt_out_percent, bool foreign_possible) {
    ContactRow c;
    c.handle = handle('P');
    std::string first(random_.pick(kFirstNames));
    std::string surname1(random_.pick(kSurnames));
    std::string surname2(random_.pick(kSurnames));
    c.name = first + " " + surname1 + " " + surname2;
    fill_address(c, foreign_possible);
    c.email = mail_word(first) + "." + mail_word(surname2) + std::to_string(random_.below(100)) + "@" +
              std::string(random_.pick(kMailDomains));
    c.phone = portuguese_phone(random_, random_.percent(60));
    c.tax_number = c.country_code == "PT" ? nif(random_, static_cast<char>('1' + random_.below(3))) : "";
    c.arbitration_option = arbitration();
    c.opt_out = random_.percent(opt_out_percent);
    return c;
  }

  ContactRow make_company() {
    ContactRow c;
    c.handle = handle('C');
    std::string word(random_.pick(kCompanyWords));
    std::string kind(random_.pick(kCompanyKinds));
    c.name = kind + " " + word + ", " + std::string(random_.pick(kLegalForms));
    fill_address(c, true);
    c.email = "geral@" + mail_word(kind).substr(0, 12) + "-" + mail_word(word) + ".pt";
    c.phone = portuguese_phone(random_, false);
    if (random_.percent(40)) c.fax = portuguese_phone(random_, false);
    c.tax_number = c.country_code == "PT" ? nif(random_, '5') : "";
    c.arbitration_option = arbitration();
    c.opt_out = random_.percent(3);
    return c;
  }

  ContactRow make_organisation() {
    ContactRow c;
    c.handle = handle('O');
    const Place& place = random_.pick(kPlaces);
    c.name = std::string(random_.pick(kOrganisations)) + " de " + std::string(place.locality);
    fill_address(c, false);
    c.locality = std::string(place.locality);
    c.zip_locality = c.locality;
    c.email = "geral@" + mail_word(place.locality) + ".example.pt";
    c.phone = portuguese_phone(random_, false);
    if (random_.percent(50)) c.fax = portuguese_phone(random_, false);
    c.tax_number = nif(random_, '6');
    c.arbitration_option = arbitration();
    c.opt_out = random_.percent(2);
    return c;
  }

  ContactRow make_registrar() {
    ContactRow c;
    c.handle = handle('R');
    std::string word(random_.pick(kRegistrarWords));
    std::string kind(random_.pick(kRegistrarKinds));
    c.name = word + " " + kind + ", " + std::string(random_.pick(kLegalForms));
    fill_address(c, false);
    c.email = "registos@" + mail_word(word) + "-" + mail_word(kind).substr(0, 10) + ".pt";
    c.phone = portuguese_phone(random_, false);
    c.fax = portuguese_phone(random_, false);
    c.tax_number = nif(random_, '5');
    c.arbitration_option = "ACCEPTED";
    return c;
  }

  // The registered label in Unicode, before uniqueness is ensured.
  std::string make_label(const std::string& hierarchy) {
    auto word = [&] { return std::string(random_.pick(kLabelWords)); };
    if (hierarchy == "nome.pt") {
      return lower_ascii(mail_word(random_.pick(kFirstNames))) + "-" + lower_ascii(mail_word(random_.pick(kSurnames)));
    }
    if (hierarchy == "gov.pt") return (random_.percent(50) ? "cm-" : "sg-") + word();
    if (hierarchy == "edu.pt") return (random_.percent(50) ? "esc-" : "agrupamento-") + word();
    switch (random_.below(6)) {
      case 0: return word();
      case 1:
      case 2: return word() + "-" + word();
      case 3: return word() + word();
      case 4: return word() + "-" + std::string(random_.pick(kLabelSuffixes));
      default: return word() + std::to_string(random_.below(1000));
    }
  }

  // Chooses the domain name: a_label and u_label of the full name, unique in the file.
  std::pair<std::string, std::string> make_name(const std::string& hierarchy) {
    // Most registrations are plain ASCII; keep the accents (an IDN) for about one in six.
    const bool idn = random_.percent(16);
    for (int attempt = 0;; ++attempt) {
      std::string label = make_label(hierarchy);
      if (attempt > 3) label += "-" + std::to_string(random_.below(100000));
      std::string ascii = lower_ascii(fold_accents(label));
      std::string unicode = ascii;
      std::string a_label = ascii;
      if (idn && ascii != label) {
        std::string converted = to_a_label(idna_, label);
        if (!converted.empty()) {
          unicode = label;
          a_label = converted;
        }
      }
      // "net.pt", "com.pt": a label directly under .pt that names a hierarchy is not a
      // registration (a query for it is refused). Changed without drawing again, so
      // that every other generated domain stays as it was for the seed.
      if (hierarchy == "pt" && is_hierarchy_label(a_label)) {
        a_label += "s";
        unicode += "s";
      }
      if (a_label.size() > 63 || a_label.size() < 2) continue;
      std::string full = a_label + "." + hierarchy;
      if (seen_.insert(full).second) return {full, unicode + "." + hierarchy};
    }
  }

  std::string ipv4() {
    static const char* const nets[] = {"192.0.2.", "198.51.100.", "203.0.113."};
    return std::string(nets[random_.below(3)]) + std::to_string(random_.between(1, 254));
  }

  std::string ipv6() {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "2001:db8:%x:%x::%x", static_cast<unsigned>(random_.between(1, 0xffff)),
                  static_cast<unsigned>(random_.between(1, 0xffff)), static_cast<unsigned>(random_.between(1, 0xffff)));
    return buffer;
  }

  void write_domain(std::int64_t id) {
    const std::string& hierarchy = kHierarchyWeights.pick(random_);
    const std::string& status = kStatusWeights.pick(random_);
    auto [a_label, u_label] = make_name(hierarchy);

    // Creation dates lean towards recent years, as registrations grew.
    const double u = random_.unit();
    std::int64_t created = kReferenceDay - static_cast<std::int64_t>((kReferenceDay - kFirstDay) * u * u) -
                           random_.between(0, 86399);
    std::int64_t years = (kReferenceDay - created) / kYear + 1 + random_.between(0, 2);
    std::int64_t expires = created + years * kYear;
    if (status == "PENDING DELETE") expires = kReferenceDay - random_.between(0, 30 * 86400);

    std::int64_t registrant;
    if (!registrant_ids_.empty() && random_.percent(20)) {
      registrant = random_.pick(registrant_ids_);
    } else {
      ContactRow row = hierarchy == "nome.pt"                                    ? make_person(15, true)
                       : (hierarchy == "gov.pt" || hierarchy == "edu.pt")         ? make_organisation()
                       : random_.percent(50)                                      ? make_person(15, true)
                       : random_.percent(80)                                      ? make_company()
                                                                                  : make_organisation();
      registrant = write_contact(row);
      registrant_ids_.push_back(registrant);
    }
    const std::int64_t admin = random_.pick(registrar_ids_);
    const std::int64_t tech = random_.pick(tech_ids_);

    sqlite3_stmt* s = insert_domain_.get();
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_text(s, 2, a_label.data(), static_cast<int>(a_label.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 3, u_label.data(), static_cast<int>(u_label.size()), SQLITE_STATIC);
    sqlite3_bind_text(s, 4, hierarchy.data(), static_cast<int>(hierarchy.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, created);
    sqlite3_bind_int64(s, 6, expires);
    sqlite3_bind_text(s, 7, status.data(), static_cast<int>(status.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 8, registrant);
    sqlite3_bind_int64(s, 9, admin);
    sqlite3_bind_int64(s, 10, tech);
    step(s);

    // A reservation carries no technical data (Art. 6 n.º 4).
    if (status == "RESERVED") return;
    static const Weighted<int> ns_count{{{1, 10}, {2, 55}, {3, 25}, {4, 10}}};
    const int servers = ns_count.pick(random_);
    const bool own_servers = random_.percent(35);
    const std::string provider(random_.pick(kProviders));
    for (int position = 1; position <= servers; ++position) {
      std::string host = own_servers ? "ns" + std::to_string(position) + "." + a_label
                                     : "ns" + std::to_string(position) + "." + provider;
      if (!own_servers && host.find('\xc3') != std::string::npos) host = lower_ascii(fold_accents(host));
      sqlite3_stmt* n = insert_ns_.get();
      sqlite3_bind_int64(n, 1, id);
      sqlite3_bind_int(n, 2, position);
      sqlite3_bind_text(n, 3, host.data(), static_cast<int>(host.size()), SQLITE_STATIC);
      step(n);
      ++summary_.name_servers;
      // Glue only for a name server inside the domain; now and then the registry lacks it.
      if (!own_servers || random_.percent(5)) continue;
      const int v4 = static_cast<int>(random_.between(1, 2));
      const int v6 = static_cast<int>(random_.between(0, 2));
      for (int family = 4; family <= 6; family += 2) {
        const int count = family == 4 ? v4 : v6;
        for (int k = 1; k <= count; ++k) {
          std::string address = family == 4 ? ipv4() : ipv6();
          sqlite3_stmt* g = insert_glue_.get();
          sqlite3_bind_int64(g, 1, id);
          sqlite3_bind_int(g, 2, position);
          sqlite3_bind_int(g, 3, family);
          sqlite3_bind_int(g, 4, k);
          sqlite3_bind_text(g, 5, address.data(), static_cast<int>(address.size()), SQLITE_TRANSIENT);
          step(g);
          ++summary_.glue_addresses;
        }
      }
    }
    if (!random_.percent(12)) return;
    const int records = random_.percent(80) ? 1 : 2;
    for (int position = 1; position <= records; ++position) {
      const bool sha384 = random_.percent(10);
      std::string digest;
      static const char hex[] = "0123456789ABCDEF";
      for (int k = 0; k < (sha384 ? 96 : 64); ++k) digest += hex[random_.below(16)];
      sqlite3_stmt* d = insert_ds_.get();
      sqlite3_bind_int64(d, 1, id);
      sqlite3_bind_int(d, 2, position);
      sqlite3_bind_int64(d, 3, random_.between(0, 65535));
      sqlite3_bind_int(d, 4, random_.percent(70) ? 13 : 8);
      sqlite3_bind_int(d, 5, sha384 ? 4 : 2);
      sqlite3_bind_text(d, 6, digest.data(), static_cast<int>(digest.size()), SQLITE_STATIC);
      step(d);
      ++summary_.ds_records;
    }
  }

  sqlite3* db_;
  const GeneratorOptions& options_;
  Random random_;
  Uts46Mapper idna_;
  sqlite::Stmt insert_contact_, insert_domain_, insert_ns_, insert_glue_, insert_ds_;
  std::vector<std::int64_t> registrar_ids_, tech_ids_, registrant_ids_;
  std::unordered_set<std::string> seen_;
  GeneratorSummary summary_;
};

}  // namespace

const std::vector<std::string>& generated_statuses() { return kStatuses; }
const std::vector<std::string>& generated_hierarchies() { return kHierarchies; }

GeneratorSummary generate_snapshot(const std::string& out_path, const GeneratorOptions& options) {
  if (options.domains < 1) throw SnapshotError(out_path + ": the number of domains must be at least 1");
  GeneratorSummary summary;
  write_snapshot_file(out_path, "generate", false, [&](sqlite3* db) {
    // One transaction, and a large cache for the random-order inserts into the a_label
    // index (write_snapshot_file already turned the journal and syncs off).
    sqlite::exec(db, "PRAGMA cache_size = -262144;");
    sqlite::exec(db, "BEGIN");
    std::string meta = "INSERT INTO meta VALUES ('schema_version', '" + std::to_string(kSnapshotSchemaVersion) +
                       "'), ('exported_at', '" + std::to_string(options.exported_at) + "'), ('source', " +
                       sqlite::quote("whoisd-snapshot generate --domains " + std::to_string(options.domains) +
                                     " --seed " + std::to_string(options.seed)) +
                       ")";
    sqlite::exec(db, meta.c_str());
    summary = Generator(db, options).run();
    sqlite::exec(db, "COMMIT");
  });
  return summary;
}

}  // namespace whoisd
