// Prints the suite's results by test group: node summary.mjs SUITE RESULTS
// where SUITE is the directory of the suite (a checkout of its repository,
// or the package installed from npm) and RESULTS the JSON its CLI printed.
//
// Each test is counted by its own result, as the suite's CLI reports one
// test (dependencies not honoured): the suite's pages would grey out every
// test that depends on freshness-none, a check that a cache with heuristic
// freshness (httpcache's Options.Expiration) answers "no". Required tests,
// optimal ones and checks are counted apart; browser-only tests, which the
// CLI does not run, are left out.
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const [suiteDir, resultsFile] = process.argv.slice(2)
if (!suiteDir || !resultsFile) {
  console.error('usage: node summary.mjs SUITE RESULTS')
  process.exit(2)
}

const load = file => import(pathToFileURL(path.join(suiteDir, file)).href)
const suites = (await load('tests/index.mjs')).default
// The 0.4.5 release's CLI runs the Surrogate-Control group too, which its
// index (and so its published results) leave out: it is shown apart, out of
// the totals.
const extra = []
if (fs.existsSync(path.join(suiteDir, 'tests/surrogate-control.mjs')) &&
    !suites.some(s => s.id === 'surrogate-control')) {
  extra.push((await load('tests/surrogate-control.mjs')).default)
}
const results = JSON.parse(fs.readFileSync(resultsFile, 'utf8'))

// outcome is one of pass, fail, setup, harness, untested.
function outcome (id) {
  const result = results[id]
  if (result === undefined) return 'untested'
  if (result === true) return 'pass'
  if (Array.isArray(result) && result[0] === 'Setup') return 'setup'
  if (Array.isArray(result) && result[0] === 'AbortError') return 'harness'
  return 'fail'
}

const kindOf = test => test.kind || 'required'
const pad = (s, n) => String(s).padEnd(n)
const lpad = (s, n) => String(s).padStart(n)

console.log(`${pad('group', 24)} ${lpad('required', 13)} ${lpad('optimal', 13)} ${lpad('check', 9)}`)
console.log(`${pad('', 24)} ${lpad('pass', 6)} ${lpad('fail', 6)} ${lpad('pass', 6)} ${lpad('fail', 6)} ${lpad('yes', 4)} ${lpad('no', 4)}`)
const printRow = (name, row) => console.log(`${pad(name, 24)} ${lpad(row.required[0], 6)} ${lpad(row.required[1], 6)} ${lpad(row.optimal[0], 6)} ${lpad(row.optimal[1], 6)} ${lpad(row.check[0], 4)} ${lpad(row.check[1], 4)}`)
const failed = []
function count (group, total) {
  const row = { required: [0, 0], optimal: [0, 0], check: [0, 0] }
  for (const test of group.tests) {
    const o = outcome(test.id)
    if (o === 'untested') continue
    const kind = kindOf(test)
    row[kind][o === 'pass' ? 0 : 1]++
    if (total) total[kind][o === 'pass' ? 0 : 1]++
    if (kind === 'required' && o !== 'pass') {
      const detail = Array.isArray(results[test.id]) ? results[test.id].slice(0, 2).join(': ') : String(results[test.id])
      failed.push(`${test.id} (${o}${total ? '' : `, ${group.id}, out of the totals`}): ${detail}`)
    }
  }
  printRow(group.id, row)
}
const total = { required: [0, 0], optimal: [0, 0], check: [0, 0] }
for (const suite of suites) count(suite, total)
printRow('total', total)
if (extra.length > 0) {
  console.log('not in the suite\'s index:')
  for (const suite of extra) count(suite, null)
}
console.log('')
if (failed.length > 0) {
  console.log('required tests not passed:')
  for (const line of failed) console.log('  ' + line)
  console.log('')
}
const notRun = suites.flatMap(s => s.tests).filter(t => kindOf(t) === 'required' && outcome(t.id) === 'untested').length
const run = total.required[0] + total.required[1]
console.log(`required passed: ${total.required[0]} / ${run}` + (notRun > 0 ? ` run (${run + notRun} in the suite, ${notRun} not run by its CLI)` : ''))
