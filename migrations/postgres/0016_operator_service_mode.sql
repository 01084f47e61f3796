-- An operator's mode is per service (issue 12): read-write on some services, read-only on
-- others. Existing rows keep the operator's mode; the operator-wide flag stays for admins only
-- (a read-only admin sees everything and changes nothing).
ALTER TABLE operator_services ADD COLUMN read_only BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE operator_services SET read_only = (
    SELECT o.read_only FROM operators o WHERE o.id = operator_services.operator_id
);
UPDATE operators SET read_only = FALSE WHERE role = 'operator';
