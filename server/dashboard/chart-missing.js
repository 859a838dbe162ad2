// Stands in for Chart.js when the server was built without Debian's libjs-chart.js
// (server/CMakeLists.txt warns then). app.js sees no window.Chart and shows a notice in place of
// the charts; every number is still shown in the tables.
