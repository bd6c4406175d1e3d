// Bluesky's reference server for the local stack: an ATProto PDS (@atproto/pds) and the
// DID directory it needs (@did-plc/server, in memory), both listening on loopback only.
//
// Run with Node >= 22 by crosspost-local, which sets:
//   PDS_APP_DIR   the folder whose node_modules hold @atproto/pds and @did-plc/server
//   PDS_PORT      the PDS's port on 127.0.0.1 (and ::1 when the machine has it)
//   PDS_*         the PDS's own settings (see @atproto/pds's readEnv)
// Prints one line `READY {"pds": url, "plc": url}` once both answer.
import { createRequire } from 'node:module'
import { once } from 'node:events'
import path from 'node:path'

// The packages live in the tools folder, not next to this file.
const require = createRequire(path.join(process.env.PDS_APP_DIR, 'package.json'))
const { PDS, envToCfg, envToSecrets, readEnv } = require('@atproto/pds')
const plcServer = require('@did-plc/server')

// 127.0.0.1 always; ::1 too when there is one, since "localhost" may resolve to either.
async function listenOnLoopback(app, port) {
  const servers = [app.listen(port, '127.0.0.1')]
  await once(servers[0], 'listening')
  const bound = servers[0].address().port
  const v6 = app.listen(bound, '::1')
  const ok = await new Promise((resolve) => {
    v6.once('listening', () => resolve(true))
    v6.once('error', () => resolve(false))
  })
  if (ok) servers.push(v6)
  return { port: bound, servers }
}

// The DID directory, in memory: the accounts of one run are gone when it stops.
const plc = plcServer.PlcServer.create({ db: plcServer.Database.mock() })
const plcListen = await listenOnLoopback(plc.app, 0)
// A host name, not an IP literal: the PDS refuses to fetch from IP literals.
const plcUrl = `http://localhost:${plcListen.port}`

const env = readEnv()
env.hostname = 'localhost' // an http:// service URL and `.test` handles need this
env.port = Number(process.env.PDS_PORT)
env.didPlcUrl = plcUrl
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
// What pds.start() does, except that it listens on every interface.
await pds.ctx.sequencer.start()
const pdsListen = await listenOnLoopback(pds.app, env.port)
for (const s of pdsListen.servers) s.keepAliveTimeout = 90_000

console.log('READY ' + JSON.stringify({ pds: `http://localhost:${pdsListen.port}`, plc: plcUrl }))

const stop = () => {
  for (const s of [...pdsListen.servers, ...plcListen.servers]) s.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
