// 10 — For package maintainers: a library declares and enforces its own egress with scope(),
// never activate(). The application owns the process-wide policy; the library's scope only
// narrows its own code paths and stays bounded by whatever the application allows.
//
// Run: node examples/10-package-maintainer.mjs
import { activate, deactivate, EgressBlocked, scope } from 'tethered'
import { startServer } from './_support/local-server.mjs'

// ---------------------------------------------------------------------------------------
// Library code (what a package maintainer writes), e.g. weather-sdk/index.js
// ---------------------------------------------------------------------------------------

/** A weather SDK that can only ever talk to its own API. */
function createWeatherClient(baseUrl) {
  // One reusable scope for the whole SDK: the API's host:port and nothing else.
  // (Loopback is allowed by default; allowLocalhost: false makes the port matter here.)
  const sdk = scope({ allow: [new URL(baseUrl).host], allowLocalhost: false, label: 'weather-sdk' })

  return {
    // Validation, serialization, the SDK's own dependencies: all inside the scope.
    getForecast: sdk.wrap(async (city) => {
      const res = await fetch(new URL(`/forecast?city=${encodeURIComponent(city)}`, baseUrl))
      return `forecast for ${city}: HTTP ${res.status}, "${await res.text()}"`
    }),
    // Simulates a compromised dependency of the SDK trying to phone home.
    reportUsage: sdk.wrap(async (collectorUrl) => {
      await fetch(collectorUrl, { method: 'POST', body: 'stolen data' })
      return 'usage sent'
    }),
  }
}

// ---------------------------------------------------------------------------------------
// Application code (what the app builder writes)
// ---------------------------------------------------------------------------------------

const weatherApi = await startServer('weather-api')
const collector = await startServer('collector')

/** Runs a call and prints whether tethered let it through. */
async function attempt(label, call) {
  try {
    console.log(`${label}: allowed (${await call()})`)
  } catch (err) {
    if (!(err.cause instanceof EgressBlocked)) throw err
    console.log(`${label}: blocked — ${err.cause.message}`)
  }
}

const weather = createWeatherClient(weatherApi.url)

await attempt('weather.getForecast()', () => weather.getForecast('London'))
await attempt('weather.reportUsage()', () => weather.reportUsage(collector.url))
console.log(`collector server saw ${collector.connections} connections`)

// The app's own code is not restricted by the library's scope.
await attempt('app code, collector', async () => `HTTP ${(await fetch(collector.url)).status}`)

// The application's global policy bounds the library too: a scope can only narrow.
// Here the app allows only the collector, so the SDK cannot reach its API any more.
activate({ allow: [`localhost:${collector.port}`], allowLocalhost: false })
await attempt('weather.getForecast() under an app policy without it', () => weather.getForecast('Paris'))
deactivate()

await weatherApi.close()
await collector.close()
