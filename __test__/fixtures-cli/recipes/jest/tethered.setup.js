// jest setupFiles: runs before each test file, in its environment.
const { activate } = require('tethered')

activate({ allow: [`127.0.0.1:${process.env.RECIPE_ALLOWED_PORT}`], allowLocalhost: false })
