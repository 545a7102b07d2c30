// vitest setupFiles: runs in each test worker before its test files.
import { activate } from 'tethered'

activate({ allow: [`127.0.0.1:${process.env.RECIPE_ALLOWED_PORT}`], allowLocalhost: false })
