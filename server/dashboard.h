// The campaign dashboard of SPEC §9: GET / (the page) and GET /dashboard/{app.js,style.css,
// chart.js}, served from bytes compiled into the server (server/dashboard/, embedded by
// server/dashboard/embed_asset.cmake) so that it works without internet and without files
// installed beside the binary. The page itself asks the JSON endpoints (POST /aggregates,
// GET /top, /catalogue, /anomalies) from the browser; nothing here reads the database.
//
// Every answer carries Cache-Control: no-cache with an ETag (a browser revalidates and gets a
// 304, so an upgraded server is never shown with a stale script) and a Content-Security-Policy
// that lets the page load nothing from another host. Another method than GET (or HEAD) on
// these paths is a 405 with `Allow: GET` and a JSON error, as on the rest of the API.
//
// Thread-safety: the handlers only read constant data.
#ifndef ALLEZON_SERVER_DASHBOARD_H_
#define ALLEZON_SERVER_DASHBOARD_H_

namespace allezon::server {

class HttpRouter;

// Registers the dashboard's routes on `router` (which answers other methods with 405).
void RegisterDashboard(HttpRouter& router);

}  // namespace allezon::server

#endif  // ALLEZON_SERVER_DASHBOARD_H_
