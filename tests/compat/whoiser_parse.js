// Compatibility: the npm package whoiser (pinned in package.json) parses the
// answers written by render_fixture the way whoiser.domain() does after a query:
//   node whoiser_parse.js DIR              parse the answers written in DIR
//   node whoiser_parse.js DIR --live PORT  ask a running whoisd on 127.0.0.1:PORT with
//                                          whoiser.query() (it sends the name as given),
//                                          then parse as whoiser.domain() does
// For each DIR/NAME.txt with its DIR/NAME.expect (see tests/render/render_fixture.cpp):
//  - found answers: 'Domain Name', 'Created Date', 'Expiry Date', 'Owner Name' and
//    'Name Server' (every host whoiser accepts as a host name, in order, and nothing
//    else); with ignorePrivacy (whoiser's default) 'Not disclosed' reads as empty;
//  - no-match and other fixed answers: no domain and no name server is read.
// Live, fixed answers are skipped (the limit answers need their own configuration),
// and every IDN is also asked for in its Unicode form (UTF-8 bytes on the wire).
// Exits non-zero and names the file and field on any failure.
'use strict'
const fs = require('fs')
const path = require('path')

const whoiserDir = path.join(__dirname, 'node_modules', 'whoiser')
if (!fs.existsSync(whoiserDir)) {
  console.error(`${whoiserDir} is missing: run scripts/npm-setup.sh (scripts/setup.sh does)`)
  process.exit(1)
}
const { parseDomainWhois } = require(path.join(whoiserDir, 'src', 'parsers.js'))
const whoiser = require(whoiserDir)
const { isDomain } = require(path.join(whoiserDir, 'src', 'utils.js'))
const version = require(path.join(whoiserDir, 'package.json')).version

const dir = process.argv[2]
const live = process.argv[3] === '--live'
const port = live ? Number(process.argv[4]) : 0
if (!dir || (process.argv.length > 3 && !(live && port > 0 && process.argv.length === 5))) {
  console.error('usage: node whoiser_parse.js DIR [--live PORT]')
  process.exit(2)
}
const names = fs.readdirSync(dir).filter((f) => f.endsWith('.expect')).map((f) => f.slice(0, -'.expect'.length)).sort()
if (names.length === 0) {
  console.error(`${dir}: no .expect files (did render_fixture run?)`)
  process.exit(1)
}

let checks = 0
const failures = []
const check = (ok, what) => {
  checks++
  if (!ok) failures.push(what)
}
const kinds = {}

const checkAnswer = (name, text, expect) => {
  const parsed = parseDomainWhois(expect.query, text, true)
  if (expect.kind !== 'found') {
    check(parsed['Domain Name'] === undefined, `${name}: a domain was read from a ${expect.kind} answer: ${parsed['Domain Name']}`)
    check(parsed['Name Server'].length === 0, `${name}: name servers were read from a ${expect.kind} answer: ${parsed['Name Server']}`)
    if (expect.kind === 'nomatch') check(/ - no match\r?$/m.test(text), `${name}: no '<domain> - no match' line in ${JSON.stringify(text)}`)
    return
  }
  const same = (field, want) => {
    const got = parsed[field]
    check(got === want.trim(), `${name}: '${field}' is ${JSON.stringify(got)}, expected ${JSON.stringify(want.trim())}`)
  }
  same('Domain Name', expect.domain)
  same('Created Date', expect.created)
  same('Expiry Date', expect.expires)
  check(/^\d\d\/\d\d\/\d{4} \d\d:\d\d:\d\d$/.test(parsed['Created Date'] || ''), `${name}: 'Created Date' is not DD/MM/YYYY HH:MM:SS`)
  same('Owner Name', expect.owner === 'Not disclosed' ? '' : expect.owner)
  const wantNs = expect.ns.filter((host) => isDomain(host))
  check(JSON.stringify(parsed['Name Server']) === JSON.stringify(wantNs),
        `${name}: 'Name Server' is ${JSON.stringify(parsed['Name Server'])}, expected ${JSON.stringify(wantNs)}`)

  // Without ignorePrivacy, the redaction text itself is read.
  const verbatim = parseDomainWhois(expect.query, text, false)
  check(verbatim['Owner Name'] === expect.owner.trim(),
        `${name}: 'Owner Name' without ignorePrivacy is ${JSON.stringify(verbatim['Owner Name'])}, expected ${JSON.stringify(expect.owner.trim())}`)
}

const main = async () => {
for (const name of names) {
  const expect = { ns: [] }
  for (const line of fs.readFileSync(path.join(dir, `${name}.expect`), 'utf8').split('\n')) {
    if (!line) continue
    const tab = line.indexOf('\t')
    const key = line.slice(0, tab)
    const value = line.slice(tab + 1)
    if (key === 'ns') expect.ns.push(value)
    else expect[key] = value
  }
  kinds[expect.kind] = (kinds[expect.kind] || 0) + 1

  if (!live) {
    // whoiser joins the socket's chunks as strings: the answer is read as UTF-8 text.
    checkAnswer(name, fs.readFileSync(path.join(dir, `${name}.txt`), 'utf8'), expect)
    continue
  }
  if (expect.kind === 'fixed') continue
  const queries = [expect.query]
  if (expect.kind === 'found' && expect.domain !== expect.query && !expect.query.startsWith('www.')) queries.push(expect.domain)
  for (const query of queries) {
    const text = await whoiser.query({ host: '127.0.0.1', port, query, timeout: 120000 })
    checkAnswer(`${name} asked as ${query}`, text, { ...expect, query })
  }
}

for (const kind of ['found', 'nomatch', 'fixed']) check((kinds[kind] || 0) > 0, `no '${kind}' answers in ${dir}`)
const mode = live ? `live on port ${port}` : 'from files'
if (failures.length) {
  for (const f of failures) console.error(`FAIL: ${f}`)
  console.error(`whoiser ${version} (${mode}): ${failures.length} of ${checks} checks failed`)
  process.exit(1)
}
console.log(`whoiser ${version} (${mode}): ${checks} checks passed on ${names.length} answers`)
}

main().catch((err) => {
  console.error(`whoiser_parse: ${err.stack || err}`)
  process.exit(1)
})
