namespace Levee.Doctor;
