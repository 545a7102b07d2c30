// node --test --require ./tethered.setup.cjs: runs in the runner and in every test file's process.
const { activate } = require('tethered')

activate({ allow: [`127.0.0.1:${process.env.RECIPE_ALLOWED_PORT}`], allowLocalhost: false })
