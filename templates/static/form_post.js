// Auto-submit the form_post response (OAuth 2.0 Form Post Response Mode). Served from our own
// origin because the page's Content-Security-Policy forbids inline script.
document.getElementById("form-post").submit();
