/**
 * The operator console: one self-contained HTML page (styles and script
 * inline, no fonts, images or scripts from anywhere), compiled into the
 * executable as a string. The CSRF token the actions need is written into
 * the page; the script is in page-script.ts. The layout is one column that
 * reads at 420 px: tables scroll inside their own box, job lists are cards.
 */
import { PAGE_SCRIPT } from "./page-script.ts";
import { PAGE_VIEWS } from "./page-views.ts";

const STYLE = `
:root { font-family: system-ui, sans-serif; color: #1b1f24; background: #f6f7f9; --muted: #5d6673; --line: #e3e6ea; --bad: #b42318; --ok: #067647; --warn: #b54708; --accent: #1d4ed8; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; margin-bottom: 1rem; }
header h1 { font-size: 1.25rem; margin: 0; }
header h1 a { color: inherit; text-decoration: none; }
header small { color: var(--muted); }
nav { display: flex; flex-wrap: wrap; gap: .25rem .75rem; align-items: center; }
nav a { color: var(--accent); text-decoration: none; }
nav a.on { font-weight: 700; color: inherit; }
form.search { display: flex; gap: .25rem; }
input, select, textarea, button { font: inherit; }
input, textarea, select { border: 1px solid #c9ced6; border-radius: .35rem; padding: .3rem .45rem; background: #fff; min-width: 0; }
button { border: 1px solid #c9ced6; background: #fff; border-radius: .35rem; padding: .3rem .7rem; cursor: pointer; }
button.danger { border-color: #f3b4ae; color: var(--bad); }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(8rem, 1fr)); gap: .6rem; margin-bottom: 1rem; }
.card, .box { background: #fff; border-radius: .5rem; padding: .7rem .9rem; box-shadow: 0 1px 2px #0001; }
.box { margin-bottom: 1rem; }
.card b { display: block; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
.card span { color: var(--muted); font-size: .8rem; }
.scroll { overflow-x: auto; background: #fff; border-radius: .5rem; box-shadow: 0 1px 2px #0001; margin-bottom: 1rem; }
table { width: 100%; border-collapse: collapse; }
th, td { padding: .4rem .6rem; text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #eef0f3; font-weight: 600; font-size: .85rem; }
tr + tr td { border-top: 1px solid var(--line); }
td a { color: var(--accent); overflow-wrap: anywhere; white-space: normal; }
td:first-child { min-width: 7rem; }
.bad { color: var(--bad); font-weight: 600; }
.warnc { color: var(--warn); }
.okc { color: var(--ok); }
.muted { color: var(--muted); }
h2 { font-size: 1.1rem; margin: 1rem 0 .5rem; word-break: break-all; }
h3 { font-size: 1rem; margin: .2rem 0 .5rem; }
.row { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; }
.tabs { display: flex; flex-wrap: wrap; gap: .25rem; margin: .5rem 0; }
.tabs a { padding: .25rem .6rem; border-radius: 1rem; background: #e8ebef; color: inherit; text-decoration: none; font-size: .9rem; }
.tabs a.on { background: #1b1f24; color: #fff; }
.job { background: #fff; border-radius: .5rem; box-shadow: 0 1px 2px #0001; padding: .6rem .8rem; margin-bottom: .6rem; }
.job .meta { color: var(--muted); font-size: .82rem; display: flex; flex-wrap: wrap; gap: .2rem .8rem; margin: .25rem 0; }
pre { margin: .35rem 0; padding: .5rem; background: #f3f4f6; border-radius: .35rem; overflow: auto; max-height: 18rem; font-size: .8rem; white-space: pre-wrap; word-break: break-all; }
pre.stack { background: #fef3f2; color: #7a271a; }
.failure { border-left: 3px solid var(--bad); padding-left: .6rem; margin-top: .4rem; }
#toast { position: fixed; left: 50%; transform: translateX(-50%); bottom: 1rem; max-width: calc(100% - 2rem); padding: .6rem 1rem; border-radius: .5rem; color: #fff; background: #1b1f24; display: none; z-index: 9; }
#toast.bad { background: var(--bad); }
#toast.show { display: block; }
#conn { font-size: .8rem; }
.editor textarea { width: 100%; min-height: 8rem; font-family: ui-monospace, monospace; font-size: .85rem; }
.editor .opts { display: flex; flex-wrap: wrap; gap: .5rem; margin: .4rem 0; }
.editor .opts label { display: flex; flex-direction: column; font-size: .8rem; color: var(--muted); }
.editor .opts input { width: 7rem; }
dialog { border: none; border-radius: .5rem; box-shadow: 0 4px 24px #0003; max-width: calc(100% - 2rem); }
svg.chart { width: 100%; height: 140px; display: block; }
.legend { font-size: .8rem; color: var(--muted); display: flex; gap: 1rem; }
.legend i { display: inline-block; width: .7rem; height: .7rem; border-radius: .15rem; margin-right: .25rem; vertical-align: -1px; }
.pager { display: flex; gap: .5rem; align-items: center; margin: .5rem 0 1rem; }
`;

export function consolePage(csrf: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="beanrun-csrf" content="${csrf}">
<title>beanrun console</title>
<style>${STYLE}</style>
</head>
<body>
<header>
  <h1><a href="#/">beanrun</a> <small id="version"></small></h1>
  <nav id="nav">
    <a href="#/" data-nav="overview">Overview</a>
    <a href="#/workers" data-nav="workers">Workers</a>
    <a href="#/schedules" data-nav="schedules">Schedules</a>
    <form class="search" id="search"><input id="search-id" inputmode="numeric" placeholder="job id" size="8" aria-label="job id"><button>Find</button></form>
    <button id="token-btn" hidden>Token</button>
  </nav>
  <small id="conn"></small>
</header>
<main id="main"></main>
<dialog id="confirm"><form method="dialog" id="confirm-form">
  <p id="confirm-text"></p>
  <p><input id="confirm-input" autocomplete="off" aria-label="confirmation"></p>
  <div class="row"><button value="cancel" formnovalidate>Cancel</button><button value="ok" class="danger" id="confirm-ok">Delete</button></div>
</form></dialog>
<div id="toast" role="status"></div>
<script>${PAGE_SCRIPT}${PAGE_VIEWS}</script>
</body>
</html>
`;
}
