// Shared by the examples: fetch() a URL and print whether tethered let it through.
import { EgressBlocked } from 'tethered'

/** fetch() a URL and print whether tethered let it through. */
export async function tryFetch(label, url) {
  try {
    const res = await fetch(url)
    console.log(`${label}: allowed (HTTP ${res.status}, "${await res.text()}")`)
  } catch (err) {
    if (!(err.cause instanceof EgressBlocked)) throw err
    console.log(`${label}: blocked — ${err.cause.message}`)
  }
}
