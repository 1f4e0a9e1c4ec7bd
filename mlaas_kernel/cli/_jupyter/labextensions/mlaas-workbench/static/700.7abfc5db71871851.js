"use strict";(self.rspackChunkmlaas_workbench=self.rspackChunkmlaas_workbench||[]).push([[700],{646(a,o,r){var e=r(601),n=r.n(e),t=r(314),l=(r.n(t))()(n());l.push([a.id,`/* The Workbench sidebar: compact like Lab's file browser, coloured only with JupyterLab's theme variables. */

.mlaas-Workbench {
  display: flex;
  flex-direction: column;
  min-width: 220px;
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
}

.mlaas-Workbench .mlaas-header {
  display: flex;
  align-items: center;
  gap: 6px;
  flex: 0 0 auto;
  height: var(--jp-private-toolbar-height, 28px);
  padding: 0 4px 0 12px;
  border-bottom: var(--jp-border-width) solid var(--jp-toolbar-border-color);
  box-shadow: var(--jp-toolbar-box-shadow);
}

.mlaas-Workbench .mlaas-title {
  font-weight: 600;
  text-transform: uppercase;
  font-size: var(--jp-ui-font-size0);
  letter-spacing: 0.5px;
  color: var(--jp-ui-font-color1);
}

.mlaas-Workbench .mlaas-updated,
.mlaas-Workbench .mlaas-muted {
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.mlaas-Workbench .mlaas-updated {
  flex: 0 0 auto;
  white-space: nowrap;
}

.mlaas-Workbench .mlaas-spacer {
  flex: 1 1 auto;
}

.mlaas-Workbench .mlaas-refresh {
  display: flex;
  align-items: center;
  justify-content: center;
  width: 24px;
  height: 24px;
  padding: 0;
  border: none;
  border-radius: var(--jp-border-radius);
  background: transparent;
  cursor: pointer;
}

.mlaas-Workbench .mlaas-refresh:hover {
  background: var(--jp-layout-color2);
}

.mlaas-Workbench .mlaas-refresh.mlaas-busy {
  opacity: 0.5;
}

.mlaas-Workbench .mlaas-sections {
  flex: 1 1 auto;
  overflow-y: auto;
}

.mlaas-Workbench .mlaas-section-head {
  display: flex;
  align-items: center;
  gap: 4px;
  width: 100%;
  height: 24px;
  padding: 0 8px;
  border: none;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  font: inherit;
  font-weight: 600;
  text-align: left;
  cursor: pointer;
}

.mlaas-Workbench .mlaas-caret::before {
  content: '▾';
  display: inline-block;
  width: 10px;
  color: var(--jp-ui-font-color2);
}

.mlaas-Workbench .mlaas-collapsed .mlaas-caret::before {
  content: '▸';
}

.mlaas-Workbench .mlaas-collapsed .mlaas-section-body,
.mlaas-Workbench .mlaas-collapsed .mlaas-section-error {
  display: none;
}

.mlaas-Workbench .mlaas-count {
  margin-left: auto;
  padding: 0 6px;
  border-radius: 8px;
  background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size0);
  font-weight: normal;
}

.mlaas-Workbench .mlaas-row {
  padding: 3px 8px 3px 22px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color3);
  cursor: pointer;
}

.mlaas-Workbench .mlaas-row:hover {
  background: var(--jp-layout-color2);
}

.mlaas-Workbench .mlaas-row:focus-visible {
  outline: 1px solid var(--jp-brand-color1);
  outline-offset: -1px;
}

.mlaas-Workbench .mlaas-row-inert {
  cursor: default;
}

.mlaas-Workbench .mlaas-line {
  display: flex;
  align-items: center;
  gap: 6px;
  min-height: 18px;
}

.mlaas-Workbench .mlaas-left {
  display: flex;
  align-items: center;
  gap: 6px;
  flex: 1 1 auto;
  min-width: 0;
  overflow: hidden;
  white-space: nowrap;
}

.mlaas-Workbench .mlaas-right {
  flex: 0 0 auto;
  white-space: nowrap;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
}

.mlaas-Workbench .mlaas-name {
  /* Names keep their width (a flex share of a fraction of a pixel would add an ellipsis); what follows them shrinks. */
  flex: 0 0 auto;
  max-width: 100%;
  overflow: hidden;
  text-overflow: ellipsis;
  color: var(--jp-ui-font-color0);
}

.mlaas-Workbench .mlaas-left > .mlaas-muted,
.mlaas-Workbench .mlaas-left > .mlaas-chip {
  display: block;
  flex: 0 1 auto;
  min-width: 0;
  overflow: hidden;
  text-overflow: ellipsis;
}

/* What tells a row from its neighbours (a time of day, a trial's number, steps done) is never cut: the name
   before it is (in full in its tooltip), down to a few characters. */
.mlaas-Workbench .mlaas-left > .mlaas-name.mlaas-cut {
  flex: 0 1 auto;
  min-width: 3em;
}

.mlaas-Workbench .mlaas-left > .mlaas-tag,
.mlaas-Workbench .mlaas-left > .mlaas-steps {
  flex: 0 0 auto;
}

/* A pipeline run's failed step, or every running one (parallel workers run several), wrapping rather than cut. */
.mlaas-Workbench .mlaas-where {
  display: block;
  font-size: var(--jp-ui-font-size0);
  line-height: 1.4;
  white-space: normal;
  overflow-wrap: anywhere;
}

.mlaas-Workbench .mlaas-running {
  color: var(--jp-ui-font-color2);
}



.mlaas-Workbench .mlaas-metric {
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-ui-font-size0);
}

.mlaas-Workbench .mlaas-chip,
.mlaas-Workbench .mlaas-version,
.mlaas-Workbench .mlaas-alias {
  display: inline-flex;
  align-items: center;
  gap: 3px;
  padding: 0 5px;
  border-radius: 8px;
  font-size: var(--jp-ui-font-size0);
  line-height: 15px;
  background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color1);
}

.mlaas-Workbench .mlaas-version {
  padding-right: 2px;
  border: var(--jp-border-width) solid var(--jp-border-color1);
  background: transparent;
}

.mlaas-Workbench .mlaas-chips {
  flex-wrap: wrap;
  gap: 4px;
  padding-bottom: 2px;
}

.mlaas-Workbench .mlaas-alias-champion {
  background: var(--jp-success-color1);
  color: var(--jp-ui-inverse-font-color0);
}

.mlaas-Workbench .mlaas-alias-challenger {
  background: var(--jp-warn-color1);
  color: var(--jp-ui-inverse-font-color0);
}

.mlaas-Workbench .mlaas-alias-other {
  background: var(--jp-brand-color1);
  color: var(--jp-ui-inverse-font-color0);
}

.mlaas-Workbench .mlaas-bar {
  flex: 1 1 auto;
  min-width: 16px;
  max-width: 160px;
  height: 5px;
  border-radius: 3px;
  background: var(--jp-layout-color3);
  overflow: hidden;
}

.mlaas-Workbench .mlaas-bar-fill {
  height: 100%;
  border-radius: 3px;
}

.mlaas-Workbench .mlaas-status {
  font-size: var(--jp-ui-font-size0);
  font-weight: 600;
}

.mlaas-Workbench .mlaas-status::before {
  content: '';
  display: inline-block;
  width: 7px;
  height: 7px;
  margin-right: 4px;
  border-radius: 50%;
  background: currentColor;
  vertical-align: middle;
}

.mlaas-Workbench .mlaas-status.mlaas-tone-busy::before {
  animation: mlaas-pulse 1.2s ease-in-out infinite;
}

@keyframes mlaas-pulse {
  50% {
    opacity: 0.3;
  }
}

.mlaas-Workbench .mlaas-tone-ok {
  color: var(--jp-success-color1);
}

.mlaas-Workbench .mlaas-tone-busy {
  color: var(--jp-brand-color1);
}

.mlaas-Workbench .mlaas-tone-bad,
.mlaas-Workbench .mlaas-failed-step {
  color: var(--jp-error-color1);
}

.mlaas-Workbench .mlaas-tone-warn {
  color: var(--jp-warn-color1);
}

.mlaas-Workbench .mlaas-tone-muted {
  color: var(--jp-ui-font-color2);
}

.mlaas-Workbench .mlaas-bar-fill.mlaas-tone-ok {
  background: var(--jp-success-color1);
}

.mlaas-Workbench .mlaas-bar-fill.mlaas-tone-bad {
  background: var(--jp-error-color1);
}

.mlaas-Workbench .mlaas-failed-step {
  font-weight: 600;
  font-size: var(--jp-ui-font-size0);
}

.mlaas-Workbench .mlaas-empty {
  padding: 6px 12px 8px 22px;
  color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0);
  line-height: 1.4;
}

.mlaas-Workbench .mlaas-empty code {
  font-family: var(--jp-code-font-family);
  color: var(--jp-content-font-color1);
  background: var(--jp-layout-color2);
  padding: 0 2px;
  border-radius: 2px;
}

.mlaas-Workbench .mlaas-error {
  padding: 4px 8px 4px 22px;
  border-left: 3px solid var(--jp-error-color1);
  /* A tint of the theme's error colour reads on light and dark themes alike (error-color3 is pale in both). */
  background: color-mix(in srgb, var(--jp-error-color1) 14%, transparent);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size0);
  line-height: 1.4;
  white-space: pre-wrap;
  word-break: break-word;
}

.mlaas-Workbench .mlaas-error[hidden] {
  display: none;
}

.mlaas-Workbench .mlaas-banner {
  flex: 0 0 auto;
  padding-left: 12px;
}
`,""]),r.d(o,{},{A:l})},314(a){a.exports=function(a){var o=[];return o.toString=function(){return this.map(function(o){var r="",e=void 0!==o[5];return o[4]&&(r+="@supports (".concat(o[4],") {")),o[2]&&(r+="@media ".concat(o[2]," {")),e&&(r+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),r+=a(o),e&&(r+="}"),o[2]&&(r+="}"),o[4]&&(r+="}"),r}).join("")},o.i=function(a,r,e,n,t){"string"==typeof a&&(a=[[null,a,void 0]]);var l={};if(e)for(var s=0;s<this.length;s++){var i=this[s][0];null!=i&&(l[i]=!0)}for(var c=0;c<a.length;c++){var p=[].concat(a[c]);e&&l[p[0]]||(void 0!==t&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=t),r&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=r),n&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=n):p[4]="".concat(n)),o.push(p))}},o}},601(a){a.exports=function(a){return a[1]}},72(a){var o=[];function r(a){for(var r=-1,e=0;e<o.length;e++)if(o[e].identifier===a){r=e;break}return r}function e(a,e){for(var n={},t=[],l=0;l<a.length;l++){var s=a[l],i=e.base?s[0]+e.base:s[0],c=n[i]||0,p="".concat(i," ").concat(c);n[i]=c+1;var m=r(p),d={css:s[1],media:s[2],sourceMap:s[3],supports:s[4],layer:s[5]};if(-1!==m)o[m].references++,o[m].updater(d);else{var u=function(a,o){var r=o.domAPI(o);return r.update(a),function(o){o?(o.css!==a.css||o.media!==a.media||o.sourceMap!==a.sourceMap||o.supports!==a.supports||o.layer!==a.layer)&&r.update(a=o):r.remove()}}(d,e);e.byIndex=l,o.splice(l,0,{identifier:p,updater:u,references:1})}t.push(p)}return t}a.exports=function(a,n){var t=e(a=a||[],n=n||{});return function(a){a=a||[];for(var l=0;l<t.length;l++){var s=r(t[l]);o[s].references--}for(var i=e(a,n),c=0;c<t.length;c++){var p=r(t[c]);0===o[p].references&&(o[p].updater(),o.splice(p,1))}t=i}}},659(a){var o={};a.exports=function(a,r){var e=function(a){if(void 0===o[a]){var r=document.querySelector(a);if(window.HTMLIFrameElement&&r instanceof window.HTMLIFrameElement)try{r=r.contentDocument.head}catch(a){r=null}o[a]=r}return o[a]}(a);if(!e)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");e.appendChild(r)}},540(a){a.exports=function(a){var o=document.createElement("style");return a.setAttributes(o,a.attributes),a.insert(o,a.options),o}},56(a,o,r){a.exports=function(a){var o=r.nc;o&&a.setAttribute("nonce",o)}},825(a){a.exports=function(a){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=a.insertStyleElement(a);return{update:function(r){var e,n,t;e="",r.supports&&(e+="@supports (".concat(r.supports,") {")),r.media&&(e+="@media ".concat(r.media," {")),(n=void 0!==r.layer)&&(e+="@layer".concat(r.layer.length>0?" ".concat(r.layer):""," {")),e+=r.css,n&&(e+="}"),r.media&&(e+="}"),r.supports&&(e+="}"),(t=r.sourceMap)&&"u">typeof btoa&&(e+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(t))))," */")),a.styleTagTransform(e,o,a.options)},remove:function(){var a;null===(a=o).parentNode||a.parentNode.removeChild(a)}}}},113(a){a.exports=function(a,o){if(o.styleSheet)o.styleSheet.cssText=a;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(a))}}},959(a,o,r){var e=r(72),n=r.n(e),t=r(825),l=r.n(t),s=r(659),i=r.n(s),c=r(56),p=r.n(c),m=r(540),d=r.n(m),u=r(113),h=r.n(u),f=r(646),b={};b.styleTagTransform=h(),b.setAttributes=p(),b.insert=i().bind(null,"head"),b.domAPI=l(),b.insertStyleElement=d(),n()(f.A,b),f.A&&f.A.locals&&f.A.locals}}]);