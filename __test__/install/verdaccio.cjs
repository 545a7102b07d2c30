// Child process: a throwaway verdaccio on 127.0.0.1 (an ephemeral port), from the config file
// given as argv[2]. Prints `port=<n>` once listening; the parent ends it with SIGTERM.
const { runServer } = require('verdaccio')

runServer(process.argv[2]).then(
  (app) => {
    const server = app.listen(0, '127.0.0.1', () => process.stdout.write(`port=${server.address().port}\n`))
    process.on('SIGTERM', () => {
      server.close(() => process.exit(0))
      server.closeAllConnections() // npm's keep-alive sockets would hold close() open
    })
  },
  (err) => {
    process.stderr.write(`verdaccio failed to start: ${err && err.stack ? err.stack : err}\n`)
    process.exit(1)
  },
)
