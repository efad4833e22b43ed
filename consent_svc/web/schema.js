// The API browser at /schema: Swagger UI from the service's own copy (consent_svc/web/swagger_ui),
// started from this file rather than an inline script, so the page runs under a
// Content-Security-Policy without 'unsafe-inline' and loads nothing from elsewhere.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.consentSvcApiBrowser = window.SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No validation badge: it would load an image from validator.swagger.io.
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // An API key typed into "Authorize" lives in this tab only, never in localStorage.
    persistAuthorization: false,
  });
})();
