// Shared by the examples: fetch() a URL and say whether tethered let it through.
import { EgressBlocked } from 'tethered'

/** fetch() a URL; returns a line saying whether tethered let it through. */
export async function fetchOutcome(label, url) {
  try {
    const res = await fetch(url)
    return `${label}: allowed (HTTP ${res.status}, "${await res.text()}")`
  } catch (err) {
    // fetch() rejects with TypeError('fetch failed'); the EgressBlocked is its cause.
    if (!(err.cause instanceof EgressBlocked)) throw err
    return `${label}: blocked — ${err.cause.message}`
  }
}

/** fetch() a URL and print whether tethered let it through. */
export async function tryFetch(label, url) {
  console.log(await fetchOutcome(label, url))
}
