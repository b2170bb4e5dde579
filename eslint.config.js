// ESLint (flat config) for the pages' own scripts, run by scripts/test:
//   node_modules/.bin/eslint maas/static/*.js
// The pages are ES modules for the browser; the two service workers are classic worker
// scripts. Vendor files (maas/static/vendor/, from npm) are not ours to lint.
// CommonJS, because package.json has no "type": "module" (it only pins browser libraries).
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  { ignores: ["maas/static/vendor/**", "node_modules/**", ".venv/**", "instance/**"] },
  js.configs.recommended,
  {
    files: ["maas/static/**/*.js"],
    languageOptions: { ecmaVersion: "latest", sourceType: "module", globals: globals.browser },
    rules: {
      // Japanese text is spaced with the ideographic space (U+3000) on purpose
      "no-irregular-whitespace": ["error", { skipStrings: true, skipTemplates: true }],
    },
  },
  {
    files: ["maas/static/*-sw.js"],
    languageOptions: { sourceType: "script", globals: globals.serviceworker },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "commonjs", globals: globals.node },
  },
];
